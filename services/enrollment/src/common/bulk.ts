import { isDuplicateKey, UPDATES_PER_COMMAND } from '@lib/messaging';
import type { mongo } from 'mongoose';

type Collection<T extends mongo.Document> = mongo.Collection<T>;
type Document = mongo.Document;
type AnyBulkWriteOperation<T extends mongo.Document> = mongo.AnyBulkWriteOperation<T>;
type MongoBulkWriteError = mongo.MongoBulkWriteError;

export interface BulkOutcome {
  matched: number;
  modified: number;
  inserted: number;
  duplicates: number;
}

/**
 * Unordered bulkWrite in chunks (by default the platform's limit of updates per command; the services pass
 * BULK_WRITE_CHUNK); duplicate-key failures of inserts are counted, not thrown (idempotent inserts).
 */
export async function bulkWriteChunked<T extends Document>(
  collection: Collection<T>,
  operations: AnyBulkWriteOperation<T>[],
  chunk = UPDATES_PER_COMMAND,
): Promise<BulkOutcome> {
  const outcome: BulkOutcome = { matched: 0, modified: 0, inserted: 0, duplicates: 0 };
  for (let i = 0; i < operations.length; i += chunk) {
    const part = operations.slice(i, i + chunk);
    try {
      const result = await collection.bulkWrite(part, { ordered: false });
      outcome.matched += result.matchedCount;
      outcome.modified += result.modifiedCount;
      outcome.inserted += result.insertedCount;
    } catch (error) {
      const bulk = error as MongoBulkWriteError;
      const writeErrors = ([] as Array<{ code?: number }>).concat((bulk.writeErrors as never) ?? []);
      if (!bulk.result || writeErrors.length === 0 || !writeErrors.every(isDuplicateKey)) throw error;
      outcome.matched += bulk.result.matchedCount;
      outcome.modified += bulk.result.modifiedCount;
      outcome.inserted += bulk.result.insertedCount;
      outcome.duplicates += writeErrors.length;
    }
  }
  return outcome;
}

/**
 * insertMany (unordered) that treats documents already present (duplicate _id) as done, and says which ones they
 * were (their indexes in `docs`).
 */
export async function insertIdempotent<T extends Document>(collection: Collection<T>, docs: T[]): Promise<{ inserted: number; duplicates: number[] }> {
  if (docs.length === 0) return { inserted: 0, duplicates: [] };
  try {
    const result = await collection.insertMany(docs as never, { ordered: false });
    return { inserted: result.insertedCount, duplicates: [] };
  } catch (error) {
    const bulk = error as MongoBulkWriteError;
    const writeErrors = ([] as Array<{ code?: number; index: number }>).concat((bulk.writeErrors as never) ?? []);
    if (writeErrors.length === 0 || !writeErrors.every(isDuplicateKey)) throw error;
    return { inserted: docs.length - writeErrors.length, duplicates: writeErrors.map((e) => e.index) };
  }
}

/**
 * Waits `ms`, or less once `stopping()` says so (asked every quarter of a second): a pause between batches
 * (ROLLOVER_BATCH_PAUSE_MS, up to days) must not hold up a shutdown past its timeout.
 */
export async function pause(ms: number, stopping: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  // The global setTimeout (not timers/promises'): a test's fake timers drive it.
  while (!stopping() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, Math.min(250, until - Date.now())));
}

export interface ScanOptions {
  /** Documents per batch: the batch the caller decides and writes before it reads on. */
  batchSize: number;
  /** The index the scan reads (its keys end in `_id`, so an `_id` order costs no sort). */
  hint: Record<string, 1>;
  projection: Record<string, 0 | 1>;
  /** In `_id` order even without a pause (a slice that must go on where it stopped). */
  inIdOrder: boolean;
  /** The pause after each batch (ROLLOVER_BATCH_PAUSE_MS), ended early once `stopping()` says so. */
  pauseMs: number;
  stopping: () => boolean;
}

/**
 * The documents of `filter`, a batch at a time, with a pause after each batch. Without a pause, one cursor streams
 * them. With one, each batch is a query of its own, in `_id` order after the last document read: MongoDB kills a
 * cursor left idle for 10 minutes (its cursorTimeoutMillis; mongo-java-server keeps every cursor), and a pause may be
 * longer, which left every run with one batch done and then CursorNotFound. Documents the caller's writes take out
 * of `filter` are behind the scan, so none is read twice or skipped.
 */
export async function* scanInBatches<T extends { _id: unknown }>(
  collection: Collection<Document>,
  filter: Record<string, unknown>,
  { batchSize, hint, projection, inIdOrder, pauseMs, stopping }: ScanOptions,
): AsyncGenerator<T> {
  if (pauseMs <= 0) {
    const cursor = collection.find(filter, { projection, batchSize, hint, ...(inIdOrder && { sort: { _id: 1 } }) });
    try {
      for await (const doc of cursor) yield doc as unknown as T;
    } finally {
      await cursor.close().catch(() => undefined);
    }
    return;
  }
  let after: unknown;
  for (let first = true; ; first = false) {
    // Cut short by `stopping`, the scan still reads on: the caller sees the stop at its next document, and says the
    // run is not complete (an end of the scan here would read as done).
    if (!first) await pause(pauseMs, stopping);
    const page = await collection
      .find(after === undefined ? filter : { $and: [filter, { _id: { $gt: after } }] }, { projection, hint, sort: { _id: 1 }, limit: batchSize })
      .toArray();
    for (const doc of page) yield doc as unknown as T;
    if (page.length < batchSize) return;
    after = page[page.length - 1]._id;
  }
}
