import { allDone } from './all-done';

describe('allDone', () => {
  it('answers every result, in order', async () => {
    expect(await allDone([Promise.resolve(1), new Promise((resolve) => setTimeout(() => resolve(2), 5)), Promise.resolve(3)])).toEqual([1, 2, 3]);
  });

  it('fails with the first failure, only once every work is over', async () => {
    let slowDone = false;
    const slow = new Promise<number>((resolve) => setTimeout(() => ((slowDone = true), resolve(0)), 20));
    await expect(allDone([Promise.reject(new Error('first')), slow, Promise.reject(new Error('second'))])).rejects.toThrow('first');
    expect(slowDone).toBe(true);
  });
});
