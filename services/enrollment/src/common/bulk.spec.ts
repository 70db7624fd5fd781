import { pause } from './bulk';

describe('pause between batches', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('ends within a quarter of a second once stopping, not at its end (a shutdown is not held up)', async () => {
    let stopping = false;
    let done = false;
    void pause(30_000, () => stopping).then(() => (done = true));
    await jest.advanceTimersByTimeAsync(1_000);
    expect(done).toBe(false);
    stopping = true;
    await jest.advanceTimersByTimeAsync(250);
    expect(done).toBe(true);
  });

  it('lasts its whole length otherwise', async () => {
    let done = false;
    void pause(2_000, () => false).then(() => (done = true));
    await jest.advanceTimersByTimeAsync(1_900);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(100);
    expect(done).toBe(true);
  });
});
