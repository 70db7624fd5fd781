import { byteChunks } from './outbox-relay';
import { OutboxEntry } from './outbox';

const entry = (id: string, valueBytes: number): OutboxEntry => ({ eventId: id, topic: 't', key: 'k', value: 'x'.repeat(valueBytes), createdAt: new Date(0) });

describe('byteChunks: the relay sends entries in runs the broker accepts', () => {
  it('cuts consecutive runs of at most the limit (key and value bytes), in order', () => {
    const entries = [entry('a', 399), entry('b', 399), entry('c', 399), entry('d', 99)];
    expect(byteChunks(entries, 1_000).map((run) => run.map((e) => e.eventId))).toEqual([['a', 'b'], ['c', 'd']]);
  });

  it('keeps everything in one run when it fits, and gives nothing for nothing', () => {
    expect(byteChunks([entry('a', 10), entry('b', 10)], 1_000).map((run) => run.length)).toEqual([2]);
    expect(byteChunks([], 1_000)).toEqual([]);
  });

  it('sends an entry exactly at the limit alone', () => {
    expect(byteChunks([entry('a', 10), entry('b', 999), entry('c', 10)], 1_000).map((run) => run.map((e) => e.eventId))).toEqual([['a'], ['b'], ['c']]);
  });
});
