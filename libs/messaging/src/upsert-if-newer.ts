import type { Collection, Document, WithId } from 'mongodb';
import { isDeepStrictEqual } from 'node:util';
import { BatchLoader, byIdLoader } from './batch-loader';
import { bulkWriteBatcher } from './bulk-write-batcher';
import { isDuplicateKey } from './errors';

/** The counter every write through `upsertIfNewer` bumps; the guard of the next write. */
export const WRITE_REVISION = '_rev';

/**
 * The index a collection written through `upsertIfNewer` declares (`schema.index(...REVISION_GUARD_INDEX)`). Unique
 * by construction (`_id` is); it is there for servers that only use an index whose keys are exactly the filter's
 * (mongo-java-server): with it the guarded write `{ _id, _rev }` is a lookup there too, not a collection scan.
 */
export const REVISION_GUARD_INDEX = [{ _id: 1, [WRITE_REVISION]: 1 }, { unique: true }] as const;

export interface NewerFact<T> {
  /** Whether this fact replaces what is stored (it is newer). Not asked when nothing is stored. */
  replaces(stored: T): boolean;
  /** The fields to set (`$set` paths; dotted paths allowed). */
  set: Record<string, unknown>;
}

const MAX_ATTEMPTS = 20;
const loaders = new WeakMap<Collection<Document>, BatchLoader<string, WithId<Document>>>();

/** One loader per collection: concurrent calls read their documents with one query. */
function loaderOf(collection: Collection<Document>): BatchLoader<string, WithId<Document>> {
  let loader = loaders.get(collection);
  if (!loader) loaders.set(collection, (loader = byIdLoader((ids) => collection.find({ _id: { $in: ids } } as never).toArray())));
  return loader;
}

/**
 * Keeps the newest fact about `_id` in a view built from events, whatever order the events arrive in: reads the
 * document by `_id` (concurrent calls share one query), lets `fact.replaces` compare in code, then writes guarded by
 * the revision it read (`{ _id, _rev }`, upsert; concurrent calls share one bulkWrite). A concurrent write bumps
 * `_rev`, so the guard misses, the upsert's insert collides on `_id`, and the comparison runs again on what is there
 * now. Returns whether it wrote.
 *
 * Why not one conditional upsert (`{ _id, at: { $lt: at } }`): it is one round trip on MongoDB, but a server without
 * a query planner (mongo-java-server, which runs the platform locally) scans the whole collection for any filter that
 * is not exactly an index's keys, which made every event cost a scan of its view. Both steps here are by index on
 * every server.
 */
export async function upsertIfNewer<T>(collection: Collection<Document>, id: string, fact: NewerFact<T>): Promise<boolean> {
  return (await upsertIfChanged<T>(collection, id, (stored) => (stored && !fact.replaces(stored) ? null : fact.set))) !== null;
}

/**
 * The mechanism of `upsertIfNewer`, for a view whose next state is a function of what is stored (not one fact that
 * wins or not): `change` gets the document as stored (null: none yet) and answers the fields to set, or null to keep
 * what is there; it is asked again on what is there now whenever a concurrent write came first. Returns the fields it
 * wrote, or null.
 */
export async function upsertIfChanged<T>(
  collection: Collection<Document>,
  id: string,
  change: (stored: T | null) => Record<string, unknown> | null,
): Promise<Record<string, unknown> | null> {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const stored = await loaderOf(collection).load(id);
    const set = change((stored as T | undefined) ?? null);
    if (!set) return null;
    // The same fact again (an event handled again, a replay from the start): nothing to write, the document as it is.
    // Answered as written all the same: what the caller does after a write (a sweep, a reconcile) may be what a crash
    // cut short the first time.
    if (stored && holds(stored, set)) return set;
    const revision = stored?.[WRITE_REVISION] as number | undefined;
    // A document written before the revision existed is guarded by its absence (rare; a scan where unindexed).
    const guard = stored && revision === undefined ? { $exists: false } : (revision ?? 0);
    try {
      // Matched (and updated) or inserted: an upsert either writes or collides on `_id`.
      await bulkWriteBatcher(collection).write({
        updateOne: {
          filter: { _id: id, [WRITE_REVISION]: guard } as never,
          update: { $set: set, $inc: { [WRITE_REVISION]: 1 } } as never,
          upsert: true,
        },
      });
      return set;
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
  }
  throw new Error(`upsertIfNewer: ${collection.collectionName} ${id} kept changing under ${MAX_ATTEMPTS} attempts`);
}

/** Whether `stored` already holds every value of `set` (its paths may be dotted). */
function holds(stored: Document, set: Record<string, unknown>): boolean {
  return Object.entries(set).every(([path, value]) => {
    const current = path.split('.').reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), stored);
    // The driver writes an undefined value as null: a field set undefined is held by a null (or absent) one.
    return value === undefined ? current === undefined || current === null : isDeepStrictEqual(plain(current), plain(value));
  });
}

/** A value as the database gives it back: plain objects and arrays, Dates as Dates. */
function plain(value: unknown): unknown {
  if (value instanceof Date || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(plain);
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).map(([k, v]) => [k, plain(v)]));
}
