import { BatchLoader } from './batch-loader';

/** A unit test of the coalescing itself; the loaders over real collections are exercised by the services' tests. */
function recordingLoader(maxBatch?: number) {
  const calls: string[][] = [];
  const loader = new BatchLoader<string, string>(async (keys) => {
    calls.push(keys);
    return new Map(keys.filter((k) => !k.startsWith('missing')).map((k) => [k, `value of ${k}`]));
  }, maxBatch);
  return { loader, calls };
}

describe('BatchLoader', () => {
  it('answers the loads of one turn with one call, each key once, every caller with its own value', async () => {
    const { loader, calls } = recordingLoader();
    const values = await Promise.all([loader.load('a'), loader.load('b'), loader.load('a'), loader.load('missing-c')]);
    expect(calls).toEqual([['a', 'b', 'missing-c']]);
    expect(values).toEqual(['value of a', 'value of b', 'value of a', undefined]);
  });

  it('caches nothing: a load after the first call went out makes a new call', async () => {
    const { loader, calls } = recordingLoader();
    await loader.load('a');
    await loader.load('a');
    expect(calls).toEqual([['a'], ['a']]);
  });

  it('splits a turn with more keys than the batch size into several calls', async () => {
    const { loader, calls } = recordingLoader(2);
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((k) => loader.load(k)));
    expect(calls).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });

  it('rejects every caller of a call that failed, and only those', async () => {
    let fail = true;
    const loader = new BatchLoader<string, string>(async (keys) => {
      if (fail) throw new Error('server down');
      return new Map(keys.map((k) => [k, k]));
    });
    const first = await Promise.allSettled([loader.load('a'), loader.load('a'), loader.load('b')]);
    expect(first.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    fail = false;
    expect(await loader.load('a')).toBe('a');
  });
});
