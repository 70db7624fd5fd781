import { Trace, UPDATES_PER_COMMAND } from '@lib/messaging';
import type { Connection } from 'mongoose';
import { CatchUpGate } from './catch-up-gate';

/** The gate's own logic, on a stand-in collection that records the writes and answers them when told to. */
function gateOn() {
  const writes: Array<{ operations: any[]; done: () => void }> = [];
  const collection = {
    bulkWrite: (operations: any[]) => new Promise<void>((resolve) => writes.push({ operations, done: resolve })),
  };
  const gate = new CatchUpGate({ collection: () => collection } as unknown as Connection);
  return { gate, writes };
}

describe('CatchUpGate', () => {
  it('closed: writes the invitations down (one upsert counting each) and tells the caller to reconcile nothing', async () => {
    const { gate, writes } = gateOn();
    const deferring = gate.deferIfClosed(['a', 'b']);
    expect(writes).toHaveLength(1);
    expect(writes[0].operations).toEqual([
      { updateOne: { filter: { _id: 'a' }, update: { $inc: { n: 1 } }, upsert: true } },
      { updateOne: { filter: { _id: 'b' }, update: { $inc: { n: 1 } }, upsert: true } },
    ]);
    writes[0].done();
    await expect(deferring).resolves.toBe(true);
  });

  it("writes a long list (a program's decisions) UPDATES_PER_COMMAND at a time, one command after the other", async () => {
    const { gate, writes } = gateOn();
    const ids = Array.from({ length: UPDATES_PER_COMMAND * 2 + 3 }, (_, i) => `i${i}`);
    const deferring = gate.deferIfClosed(ids);
    for (const size of [UPDATES_PER_COMMAND, UPDATES_PER_COMMAND, 3]) {
      await new Promise((resolve) => setImmediate(resolve));
      expect(writes.at(-1)!.operations).toHaveLength(size);
      writes.at(-1)!.done();
    }
    await expect(deferring).resolves.toBe(true);
    expect(writes.flatMap((write) => write.operations.map((operation) => operation.updateOne.filter._id))).toEqual(ids);
  });

  it('keeps the trace of the event that put an invitation off, for the events its reconcile publishes', async () => {
    const { gate, writes } = gateOn();
    const deferring = Trace.run({ correlationId: 'corr-1', causationId: 'event-1' }, () => gate.deferIfClosed(['a']));
    expect(writes[0].operations).toEqual([
      { updateOne: { filter: { _id: 'a' }, update: { $inc: { n: 1 }, $set: { trace: { correlationId: 'corr-1', causationId: 'event-1' } } }, upsert: true } },
    ]);
    writes[0].done();
    await deferring;
  });

  it('opening waits for the deferrals begun while closed, so a drain after it reads them; once open nothing is deferred', async () => {
    const { gate, writes } = gateOn();
    const deferring = gate.deferIfClosed(['a']);
    let opened = false;
    const opening = gate.open().then(() => (opened = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(opened).toBe(false); // the deferral is not stored yet
    writes[0].done();
    await opening;
    await expect(deferring).resolves.toBe(true);
    expect(gate.isOpen).toBe(true);
    await expect(gate.deferIfClosed(['b'])).resolves.toBe(false);
    expect(writes).toHaveLength(1);
  });

  it('forgets only the entries as read: one deferred again since keeps its count and stays', async () => {
    const { gate, writes } = gateOn();
    const forgetting = gate.forget([
      { _id: 'a', n: 1 },
      { _id: 'b', n: 3 },
    ]);
    expect(writes[0].operations).toEqual([{ deleteOne: { filter: { _id: 'a', n: 1 } } }, { deleteOne: { filter: { _id: 'b', n: 3 } } }]);
    writes[0].done();
    await forgetting;
  });
});
