import { buildEvent, CATALOG, Envelope, Topic } from '@lib/contracts';
import { Schema } from 'mongoose';
import { Trace } from './context';
import { Tracing } from './tracing';

/**
 * An event waiting to be published, stored inside the document whose change caused it, so that the state
 * change and its events are one atomic single-document write (no transactions needed).
 */
export interface OutboxEntry {
  eventId: string;
  topic: string;
  key: string;
  /** The serialized envelope, exactly as it will be published. */
  value: string;
  createdAt: Date;
  /** The W3C trace context the event was written in, sent as Kafka headers (only while tracing is on: Tracing). */
  traceparent?: string;
  tracestate?: string;
}

export const OutboxEntrySchema = new Schema<OutboxEntry>(
  {
    eventId: { type: String, required: true },
    topic: { type: String, required: true },
    key: { type: String, required: true },
    value: { type: String, required: true },
    createdAt: { type: Date, required: true },
    traceparent: { type: String },
    tracestate: { type: String },
  },
  { _id: false },
);

/**
 * An outbox entry no broker would take, set aside by the relay with the reason: larger than OUTBOX_MAX_RECORD_BYTES, or
 * refused by the broker as too large on its own (`refusedByBroker`: its topic's max.message.bytes is lower).
 */
export interface ParkedOutboxEntry extends OutboxEntry {
  reason: string;
  parkedAt: Date;
  refusedByBroker?: boolean;
}

/**
 * `select` of a findOneAndUpdate on a model with the outbox: both hidden paths, so that mongoose sends the
 * findAndModify without a projection (`'+outbox'` alone still excludes `outboxParked`), which FerretDB cannot apply.
 */
export const WITH_OUTBOX = '+outbox +outboxParked';

/**
 * Adds the `outbox` array to a schema; the relay publishes every model that has it. `outboxParked` holds the entries
 * the relay set aside as too large to send (OutboxRelay), for an operator to look at; nothing publishes them.
 */
export function outboxPlugin(schema: Schema): void {
  schema.add({ outbox: { type: [OutboxEntrySchema], default: undefined, select: false } });
  schema.add({ outboxParked: { type: [Schema.Types.Mixed], default: undefined, select: false } });
  schema.index(PENDING_OUTBOX_INDEX);
  trackOutboxWrites(schema);
}

/**
 * The documents with outbox entries, as the relay's sweep finds them: a range of entry ids (never empty strings), which
 * MongoDB reads from PENDING_OUTBOX_INDEX alone. Documents with no entries (an outbox emptied by the relay, or none)
 * sort before every string there, so the sweep reads only what is pending, however large the collection. A filter
 * such as `{ 'outbox.0': { $exists: true } }` has no index to use: every sweep would read the whole collection.
 */
export const PENDING_OUTBOX = { 'outbox.eventId': { $gt: '' } } as const;
/** Not partial (`{ $exists: true }`) on purpose: FerretDB, the other local server, builds no partial index. */
export const PENDING_OUTBOX_INDEX = { 'outbox.eventId': 1 } as const;

/**
 * At most this many noted ids per collection: past it, a scan is asked for instead (it finds them all, by the index).
 * A drain held up by an unreachable broker (in a send, or creating a topic before its first send) takes none while it
 * waits: every write would add one for as long as that lasts (about 200 bytes each: 10 writes a second, some 170 MB a
 * day).
 */
export const MAX_NOTED_IDS = 10_000;

/**
 * Documents that were just given outbox entries in this process, per `<database>.<collection>`, so the relay
 * publishes them by `_id` (an indexed lookup) instead of scanning the collection for non-empty outboxes. A write
 * whose document id is not known here (a filter without `_id`) asks for a scan instead. Ids are noted before the
 * write (mongoose hooks); the relay keeps an id that shows no entries yet for a short while, and its periodic
 * scan still finds anything this misses (events of a crashed process, writes made outside mongoose).
 */
export class PendingOutboxes {
  /** Per namespace: the noted ids (keyed by idKey) with when each was first noted, and whether a scan is needed. */
  private static readonly byCollection = new Map<string, { ids: Map<unknown, NotedId>; scan: boolean }>();

  static note(namespace: string, id: unknown): void {
    const entry = this.entry(namespace);
    if (id === undefined || id === null || typeof id === 'object' && !isObjectId(id)) entry.scan = true;
    else if (entry.ids.has(idKey(id))) return;
    else if (entry.ids.size >= MAX_NOTED_IDS) entry.scan = true;
    else entry.ids.set(idKey(id), { id, at: Date.now() });
  }

  /** Takes what was noted for a collection: the ids (with when they were noted) and whether a scan is needed. */
  static take(namespace: string): { ids: NotedId[]; scan: boolean } {
    const entry = this.entry(namespace);
    const taken = { ids: [...entry.ids.values()], scan: entry.scan };
    entry.ids = new Map();
    entry.scan = false;
    return taken;
  }

  /** Puts back ids whose documents showed no entries yet (the write noted before it was made is still running). */
  static keep(namespace: string, ids: Iterable<NotedId>): void {
    const entry = this.entry(namespace);
    for (const noted of ids) if (!entry.ids.has(idKey(noted.id))) entry.ids.set(idKey(noted.id), noted);
  }

  /** Whether a write noted this document since the last take: the next drain reads it again. */
  static isNoted(namespace: string, id: unknown): boolean {
    return this.byCollection.get(namespace)?.ids.has(idKey(id)) ?? false;
  }

  /** Per namespace and document: when each write giving it entries, noted and still running, began. */
  private static readonly running = new Map<string, Map<unknown, number[]>>();

  /**
   * Marks writes to these existing documents as running until the returned call: the relay reads again a document
   * it read while one was running (its entries may have committed just after the read, and their note was taken).
   */
  static begin(namespace: string, ids: unknown[]): () => void {
    let byId = this.running.get(namespace);
    if (!byId) this.running.set(namespace, (byId = new Map()));
    const started = Date.now();
    const keys = ids.map(idKey);
    for (const key of keys) byId.set(key, [...(byId.get(key) ?? []), started]);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      for (const key of keys) {
        const starts = byId!.get(key) ?? [];
        const at = starts.indexOf(started);
        if (at >= 0) starts.splice(at, 1);
        if (starts.length === 0) byId!.delete(key);
      }
    };
  }

  /** Whether a write to this document began and has not ended (one older than RUNNING_LIMIT_MS counts as ended). */
  static isWriting(namespace: string, id: unknown): boolean {
    const byId = this.running.get(namespace);
    const starts = byId?.get(idKey(id));
    if (!starts) return false;
    if (starts.some((started) => Date.now() - started < RUNNING_LIMIT_MS)) return true;
    byId!.delete(idKey(id)); // only marks never ended were left: forgotten
    return false;
  }

  /**
   * A plain-driver write (`model.collection`, which mongoose hooks do not see) of outbox entries, to existing documents
   * or inserting them: notes them (the next kick publishes them by `_id`), runs the write, and marks it running
   * meanwhile (begin). The relay reads again a document it read while the write ran, and keeps the note of one it found
   * empty (not inserted yet) for as long as the write runs, not only its short grace: an insert slower than that (a
   * large insertMany, a failover) would otherwise be left to the periodic scan, and its events sent after newer ones of
   * their keys.
   */
  static async writing<T>(model: Model, ids: unknown[], write: () => Promise<T>): Promise<T> {
    const namespace = namespaceOf(model);
    for (const id of ids) this.note(namespace, id);
    const end = this.begin(namespace, ids);
    try {
      return await write();
    } finally {
      end();
    }
  }

  /**
   * Whether a write since the last take may have given this document entries: it was noted again, or a scan was asked
   * for (writes not noted: past MAX_NOTED_IDS, a filter without `_id`). The relay leaves what such a document holds
   * that was written after its drain began to the next drain.
   */
  static mayHaveWritesSince(namespace: string, id: unknown): boolean {
    const entry = this.byCollection.get(namespace);
    return !!entry && (entry.scan || entry.ids.has(idKey(id)));
  }

  static has(namespace: string): boolean {
    const entry = this.byCollection.get(namespace);
    return !!entry && (entry.scan || entry.ids.size > 0);
  }

  private static entry(namespace: string) {
    let entry = this.byCollection.get(namespace);
    if (!entry) this.byCollection.set(namespace, (entry = { ids: new Map(), scan: false }));
    return entry;
  }
}

/** A write still marked running after this long is taken as ended (a hook that never ran its end). */
const RUNNING_LIMIT_MS = 30_000;

/** A document noted as given outbox entries, and when (`Date.now()`, before its write). */
export interface NotedId {
  id: unknown;
  at: number;
}

/**
 * The same document's ids compare equal: an ObjectId by its hex string (each read makes a new instance), kept apart
 * from a string of the same hex (a filter mongoose has not cast yet names another document to the driver).
 */
export const idKey = (id: unknown): unknown => (id !== null && typeof id === 'object' ? `ObjectId(${String(id)})` : id);

function isObjectId(value: object): boolean {
  return (value as { _bsontype?: string })._bsontype === 'ObjectId';
}

type Model = { collection: { collectionName: string }; db: { name: string } };
const namespaceOf = (model: Model) => `${model.db.name}.${model.collection.collectionName}`;

/** True when an update (operators or a replacement) or an inserted document carries outbox entries. */
function carriesOutbox(update: unknown): boolean {
  if (!update || typeof update !== 'object') return false;
  const u = update as Record<string, unknown>;
  if (Array.isArray(u.outbox) ? u.outbox.length > 0 : u.outbox !== undefined) return true;
  return ['$push', '$set', '$setOnInsert', '$addToSet'].some((op) => {
    const fields = u[op] as Record<string, unknown> | undefined;
    return !!fields && Object.keys(fields).some((field) => field === 'outbox' || field.startsWith('outbox.'));
  });
}

/** The `_id` a filter names (a value, or `$in` of values); undefined when it names none. */
function idsOfFilter(filter: unknown): unknown[] | undefined {
  const id = (filter as { _id?: unknown } | undefined)?._id;
  if (id === undefined) return undefined;
  if (id && typeof id === 'object' && !isObjectId(id)) {
    const $in = (id as { $in?: unknown[] }).$in;
    return Array.isArray($in) ? $in : undefined;
  }
  return [id];
}

/** Notes the documents a filter names; returns the ids it named (undefined: none, a scan was asked for). */
function noteFilter(model: Model, filter: unknown): unknown[] | undefined {
  const ids = idsOfFilter(filter);
  if (!ids) PendingOutboxes.note(namespaceOf(model), undefined);
  else for (const id of ids) PendingOutboxes.note(namespaceOf(model), id);
  return ids;
}

const QUERY_WRITES: Array<'updateOne' | 'updateMany' | 'findOneAndUpdate' | 'replaceOne' | 'findOneAndReplace'> = [
  'updateOne',
  'updateMany',
  'findOneAndUpdate',
  'replaceOne',
  'findOneAndReplace',
];
/** Where a query or document keeps the end of its running mark (PendingOutboxes.begin) from its pre to its post hook. */
type Running = { $outboxWriteEnd?: () => void };
/** Mongoose tells a post hook handling errors by its three parameters. */
const endRunning = {
  done(this: Running): void {
    this.$outboxWriteEnd?.();
  },
  failed(this: Running, error: unknown, _result: unknown, next: (error?: unknown) => void): void {
    this.$outboxWriteEnd?.();
    next(error);
  },
};

function trackOutboxWrites(schema: Schema): void {
  schema.pre(QUERY_WRITES, function () {
    // `this` is the query: its model, filter and update.
    const query = this as unknown as Running & { model: Model; getFilter(): unknown; getUpdate(): unknown };
    if (!carriesOutbox(query.getUpdate())) return;
    const ids = noteFilter(query.model, query.getFilter());
    if (ids) query.$outboxWriteEnd = PendingOutboxes.begin(namespaceOf(query.model), ids);
  });
  schema.post(QUERY_WRITES, endRunning.done as never);
  schema.post(QUERY_WRITES, endRunning.failed as never);
  schema.pre('save', function () {
    const doc = this as unknown as { _id: unknown; outbox?: unknown[]; isNew: boolean; constructor: Model; $locals: Running };
    if (!doc.outbox?.length) return;
    PendingOutboxes.note(namespaceOf(doc.constructor), doc._id);
    doc.$locals.$outboxWriteEnd = PendingOutboxes.begin(namespaceOf(doc.constructor), [doc._id]);
  });
  schema.post('save', function (this: { $locals: Running }) {
    endRunning.done.call(this.$locals);
  });
  schema.post('save', function (this: { $locals: Running }, error: unknown, _doc: unknown, next: (error?: unknown) => void) {
    endRunning.failed.call(this.$locals, error, _doc, next);
  } as never);
  // Model.insertMany and Model.bulkWrite only note (their post hooks cannot tell which call ended): no writer here adds
  // entries with them; one that does wraps the call in PendingOutboxes.writing.
  schema.pre('insertMany', function (next: () => void, docs: unknown) {
    const model = this as unknown as Model;
    for (const doc of (Array.isArray(docs) ? docs : [docs]) as Array<{ _id?: unknown; outbox?: unknown[] }>) {
      if (doc?.outbox?.length) PendingOutboxes.note(namespaceOf(model), doc._id);
    }
    next();
  });
  schema.pre('bulkWrite', function (next: () => void, ops: unknown) {
    const model = this as unknown as Model;
    for (const op of (ops ?? []) as Array<Record<string, Record<string, unknown>>>) {
      const [kind, spec] = Object.entries(op)[0] ?? [];
      if (!spec) continue;
      if (kind === 'insertOne') {
        const doc = spec.document as { _id?: unknown; outbox?: unknown[] } | undefined;
        if (doc?.outbox?.length) PendingOutboxes.note(namespaceOf(model), doc._id);
      } else if (kind === 'updateOne' || kind === 'updateMany') {
        if (carriesOutbox(spec.update)) noteFilter(model, spec.filter);
      } else if (kind === 'replaceOne') {
        if (carriesOutbox(spec.replacement)) noteFilter(model, spec.filter);
      }
    }
    next();
  });
}

export interface EmitInput<T extends object> {
  type: string;
  data: T;
  partnerId?: string;
  locationId?: string;
  /** Defaults to the topic's key field (partnerId, locationId or programId) read from the data or envelope. */
  key?: string;
  /** A deterministic id for facts that may be re-derived (consumers, rollover); random otherwise. */
  eventId?: string;
  occurredAt?: Date;
}

/** Builds a contract-checked envelope for `topic`, traced to the current request or event. */
export function outboxEvent<T extends object>(source: string, topic: Topic, input: EmitInput<T>): OutboxEntry {
  const trace = Trace.current();
  const envelope: Envelope<T> = buildEvent(topic, {
    type: input.type,
    source,
    data: input.data,
    partnerId: input.partnerId ?? (input.data as { partnerId?: string }).partnerId,
    locationId: input.locationId ?? (input.data as { locationId?: string }).locationId,
    correlationId: trace?.correlationId,
    causationId: trace?.causationId,
    eventId: input.eventId,
    occurredAt: input.occurredAt,
  });
  const keyField = CATALOG[topic].key;
  const key =
    input.key ??
    (input.data as Record<string, unknown>)[keyField] ??
    (envelope as unknown as Record<string, unknown>)[keyField] ??
    envelope.partnerId;
  if (typeof key !== 'string' || key.length === 0) {
    throw new Error(`Event ${input.type} on ${topic} has no ${keyField} to use as its key`);
  }
  return { eventId: envelope.eventId, topic, key, value: JSON.stringify(envelope), createdAt: new Date(), ...Tracing.currentContext() };
}

/** The `$push` clause that appends events to a document's outbox in the same update as the state change. */
export function pushOutbox(entries: OutboxEntry[]): { outbox: { $each: OutboxEntry[] } } {
  return { outbox: { $each: entries } };
}
