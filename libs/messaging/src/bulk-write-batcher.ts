import type { AnyBulkWriteOperation, Collection, Document } from 'mongodb';
import { NextTurnBatch } from './next-turn-batch';
import { isDocumentTooLarge, isUnserializable } from './errors';

/**
 * Updates per write command wherever they are grouped (the batcher, the relay's removals, batch jobs): FerretDB 1.24
 * holds one SQLite connection per matched update until the whole command ends, from a pool of 100, so a command
 * with 100 or more updates of existing documents never returns there.
 */
export const UPDATES_PER_COMMAND = 50;

interface Pending {
  operation: AnyBulkWriteOperation<Document>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface WriteErrorLike {
  index: number;
  code?: number;
  errmsg?: string;
}

/**
 * Coalesces single-document writes to one collection issued at about the same time into one unordered bulkWrite
 * (what `BatchLoader` does for reads): every `write(op)` issued before the next turn of the event loop goes out in
 * one command. Each write keeps its own outcome: it resolves when its operation was applied, and rejects with its
 * own write error (a duplicate key: `code` 11000) or, when the whole command failed, with that error. The
 * operations of one command are independent (unordered): each is atomic on its document as it would be alone.
 *
 * Consumers handle dozens of events at once, and their writes follow reads that a loader answered together, so
 * they are issued in the same turn: 48 handlers writing one view cost one command instead of 48 (each a system
 * call each way and the server's per-command work).
 */
export class BulkWriteBatcher {
  private readonly batch: NextTurnBatch<Pending>;

  constructor(
    private readonly collection: Collection<Document>,
    maxBatch = UPDATES_PER_COMMAND,
  ) {
    this.batch = new NextTurnBatch((chunk) => void this.send(chunk), maxBatch);
  }

  write<T extends Document = Document>(operation: AnyBulkWriteOperation<T>): Promise<void> {
    return new Promise((resolve, reject) => this.batch.add({ operation: operation as AnyBulkWriteOperation<Document>, resolve, reject }));
  }

  /**
   * One command per kind of operation (insertOne, updateOne, ...): the driver splits an unordered bulk by kind and
   * stops after the first part with a write error, so operations of a later kind would not run at all while being
   * reported as done.
   */
  private async send(batch: Pending[]): Promise<void> {
    const kinds = new Map<string, Pending[]>();
    for (const pending of batch) {
      const kind = Object.keys(pending.operation)[0];
      kinds.set(kind, [...(kinds.get(kind) ?? []), pending]);
    }
    await Promise.all([...kinds.values()].map((group) => this.sendKind(group)));
  }

  private async sendKind(batch: Pending[]): Promise<void> {
    try {
      await this.collection.bulkWrite(
        batch.map((p) => p.operation),
        { ordered: false },
      );
      batch.forEach((p) => p.resolve());
    } catch (error) {
      // The driver refuses the whole command for one document too large to send: each write sent alone, so that only
      // that one fails (as permanent), not the writes that shared its command.
      // So does the driver for one it cannot serialize (a field name BSON refuses): that one fails, not the others.
      if (batch.length > 1 && (isDocumentTooLarge(error) || isUnserializable(error))) {
        await Promise.all(batch.map((pending) => this.sendKind([pending])));
        return;
      }
      const writeErrors = (error as { writeErrors?: WriteErrorLike[] | WriteErrorLike }).writeErrors;
      const perOperation = writeErrors === undefined ? undefined : Array.isArray(writeErrors) ? writeErrors : [writeErrors];
      // A write concern not met concerns every write of the command: none is known to be durable. Each is refused with
      // that failure, not with the command's error, which the driver names after its first write error (a duplicate key
      // another write met, which its caller would read as "there already").
      const concern = error as { writeConcernError?: ServerErrorLike; result?: { getWriteConcernError?: () => ServerErrorLike | undefined } };
      const notMet = concern.writeConcernError ?? concern.result?.getWriteConcernError?.();
      if (!perOperation?.length || notMet) {
        const refusal = notMet ? writeConcernFailure(notMet) : error;
        batch.forEach((p) => p.reject(refusal));
        return;
      }
      const failed = new Map(perOperation.map((e) => [e.index, e]));
      batch.forEach((p, index) => {
        const e = failed.get(index);
        if (!e) p.resolve();
        // The server's error for that write, as classifyFailure reads one by its code (a failover, a document too large).
        else p.reject(Object.assign(new Error(e.errmsg ?? `write failed with code ${e.code}`), { name: 'MongoServerError', code: e.code }));
      });
    }
  }
}

interface ServerErrorLike {
  code?: number;
  errmsg?: string;
}

/** A write concern not met, as the server's error classifyFailure reads by its code (a failover's is an outage). */
function writeConcernFailure(notMet: ServerErrorLike): Error {
  const message = `write concern not met: ${notMet.errmsg ?? `code ${notMet.code}`}`;
  return Object.assign(new Error(message), { name: 'MongoWriteConcernError', code: notMet.code });
}

const batchers = new WeakMap<Collection<Document>, BulkWriteBatcher>();

/** The batcher of a collection (one per collection object, shared by everything that writes through it). */
export function bulkWriteBatcher(collection: Collection<Document>): BulkWriteBatcher {
  let batcher = batchers.get(collection);
  if (!batcher) batchers.set(collection, (batcher = new BulkWriteBatcher(collection)));
  return batcher;
}
