import type { AnyBulkWriteOperation, Collection, Document } from 'mongodb';
import { BulkWriteBatcher } from './bulk-write-batcher';
import { classifyFailure } from './errors';

/**
 * A collection whose bulkWrite behaves as the driver's unordered one: operations grouped by kind, and the command
 * stops after the first group with a write error (the later groups are never sent). Inserts of `dup` fail (11000).
 */
function driverLikeCollection() {
  const applied: string[] = [];
  const commands: number[] = [];
  const bulkWrite = async (ops: AnyBulkWriteOperation<Document>[]) => {
    commands.push(ops.length);
    const groups = new Map<string, number[]>();
    ops.forEach((op, index) => groups.set(Object.keys(op)[0], [...(groups.get(Object.keys(op)[0]) ?? []), index]));
    for (const indexes of groups.values()) {
      const errors = indexes
        .filter((i) => 'insertOne' in ops[i] && (ops[i] as unknown as { insertOne: { document: { _id: string } } }).insertOne.document._id === 'dup')
        .map((index) => ({ index, code: 11000, errmsg: 'E11000 duplicate key' }));
      indexes.filter((i) => !errors.some((e) => e.index === i)).forEach((i) => applied.push(JSON.stringify(ops[i])));
      if (errors.length) throw Object.assign(new Error('bulk write error'), { writeErrors: errors });
    }
    return {};
  };
  return { collection: { bulkWrite } as unknown as Collection<Document>, applied, commands };
}

describe('BulkWriteBatcher', () => {
  it('reports an update written only when it was: a duplicate insert in the same turn does not hide it', async () => {
    const { collection, applied } = driverLikeCollection();
    const batcher = new BulkWriteBatcher(collection);
    const insert = batcher.write({ insertOne: { document: { _id: 'dup' } } } as never);
    const update = batcher.write({ updateOne: { filter: { _id: 'a' }, update: { $set: { x: 1 } } } } as never);
    await expect(insert).rejects.toMatchObject({ code: 11000 });
    await expect(update).resolves.toBeUndefined();
    expect(applied).toContain(JSON.stringify({ updateOne: { filter: { _id: 'a' }, update: { $set: { x: 1 } } } }));
  });

  // The driver refuses the whole command, before sending it, for one document: too large, or one it cannot serialize.
  it.each([
    ['one document too large (as permanent)', Object.assign(new Error('Document is larger than the maximum size 16777216'), { name: 'MongoInvalidArgumentError' }), 'permanent'],
    ['one it cannot serialize (a field name BSON refuses, as permanent)', Object.assign(new Error('key a\u0000b must not contain null bytes'), { name: 'BSONError' }), 'permanent'],
    // As the bulk API throws it: what serializing its command threw, wrapped, with no write error of its own.
    [
      'one it cannot serialize, the error wrapped by the bulk API',
      Object.assign(new Error('key a\u0000b must not contain null bytes'), { name: 'MongoBulkWriteError', writeErrors: [], errorResponse: Object.assign(new Error('key a\u0000b must not contain null bytes'), { name: 'BSONError' }) }),
      'permanent',
    ],
  ])('sends each write alone when the driver refuses the command for %s: only that one fails', async (_what, refusal, kind) => {
    const sent: number[] = [];
    const collection = {
      bulkWrite: async (ops: AnyBulkWriteOperation<Document>[]) => {
        sent.push(ops.length);
        if (ops.some((op) => (op as { insertOne?: { document: { _id: string } } }).insertOne?.document._id === 'odd')) throw refusal;
        return {};
      },
    } as unknown as Collection<Document>;
    const batcher = new BulkWriteBatcher(collection);
    const odd = batcher.write({ insertOne: { document: { _id: 'odd' } } } as never).catch((error: unknown) => error);
    const fine = batcher.write({ insertOne: { document: { _id: 'fine' } } } as never);
    await expect(fine).resolves.toBeUndefined();
    const refused = await odd;
    expect(refused).toBe(refusal);
    expect(classifyFailure(refused)).toBe(kind);
    expect(sent).toEqual([2, 1, 1]);
  });

  it("rejects a write the server refused with its code, read as the server's error (a failover is an outage, not a bug)", async () => {
    const collection = {
      bulkWrite: async () => {
        throw Object.assign(new Error('bulk write error'), { writeErrors: [{ index: 0, code: 11602, errmsg: 'operation was interrupted' }] });
      },
    } as unknown as Collection<Document>;
    const refused = await new BulkWriteBatcher(collection).write({ updateOne: { filter: { _id: 'a' }, update: { $set: { x: 1 } } } } as never).catch((error: unknown) => error);
    expect(classifyFailure(refused)).toBe('infrastructure');
    expect(refused).toMatchObject({ code: 11602, message: 'operation was interrupted' });
  });

  // The driver names a command's error after its first write error (here another write's duplicate key), and keeps the
  // write concern's in its result: read as the command's, a write never known to be durable passed for "there already".
  it.each([
    ['on the error', (wce: object) => ({ writeConcernError: wce })],
    ['in its result, the error named after its first write error', (wce: object) => ({ result: { getWriteConcernError: () => wce } })],
  ])('rejects every write of a command whose write concern was not met (%s) with that failure, never a duplicate key', async (_where, carrying) => {
    const collection = {
      bulkWrite: async () => {
        throw Object.assign(new Error('E11000 duplicate key'), { code: 11000, writeErrors: [{ index: 1, code: 11000 }], ...carrying({ code: 91, errmsg: 'stepdown' }) });
      },
    } as unknown as Collection<Document>;
    const batcher = new BulkWriteBatcher(collection);
    const first = batcher.write({ insertOne: { document: { _id: 'a' } } } as never).catch((error: unknown) => error);
    const second = batcher.write({ insertOne: { document: { _id: 'b' } } } as never).catch((error: unknown) => error);
    for (const refused of [await first, await second]) {
      expect(refused).toMatchObject({ code: 91, message: 'write concern not met: stepdown' });
      expect(classifyFailure(refused)).toBe('infrastructure');
    }
  });
});
