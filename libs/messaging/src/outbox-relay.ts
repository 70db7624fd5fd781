import { Topic, topicsProducedBy } from '@lib/contracts';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { Collection, Connection } from 'mongoose';
import { findByIds } from './batch-loader';
import { UPDATES_PER_COMMAND } from './bulk-write-batcher';
import { tooLargeForBroker } from './errors';
import { EventProducer } from './event-producer';
import { MessagingMetrics } from './metrics';
import { MESSAGING_OPTIONS, MessagingOptions, resolveOptions } from './options';
import { NotedId, OutboxEntry, ParkedOutboxEntry, PendingOutboxes } from './outbox';
import { TopicAdmin } from './topic-admin';

const BATCH_SIZE = 200;
/**
 * Documents per removal command: each document's entries are compared with the whole group's (quadratic), and the
 * updates per command are bounded anyway (FerretDB).
 */
const PULL_GROUP = UPDATES_PER_COMMAND;
/** How long an id noted before its write stays pending when its document shows no entries yet. */
const NOTED_GRACE_MS = 2_000;

/**
 * Publishes the events stored in documents' outboxes, in order, with acks=all, and removes each one only
 * after the broker acknowledged it. A crash between the write and the publish leaves the events in the
 * document; the next scan (at start and every `relaySweepIntervalMs`) publishes them. Delivery is therefore
 * at-least-once: consumers are idempotent.
 *
 * A kick after a write publishes the documents this process just wrote events into, looked up by `_id`
 * (`PendingOutboxes`, noted by the outbox plugin's hooks): a scan for non-empty outboxes reads the whole
 * collection on servers that cannot index it, which cost more than everything else under load. Events written
 * outside mongoose (plain driver calls) are found by the next sweep, or at once when the writer notes the ids
 * (`PendingOutboxes.note`), as every writer of this platform does.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private readonly options: Required<MessagingOptions>;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  /**
   * The next drain scans every outbox collection: `full` for every document with entries (start, flush, after a
   * failure), `poll` one batch per collection (the poll interval: a safety net for writes nobody noted, cheap on a
   * collection being written fast).
   */
  private sweep: 'full' | 'poll' | false = 'full';
  private stopped = true;
  /** The catalog's topics of this service, created before anything is sent (drain). */
  private readonly produced: Topic[];

  constructor(
    @InjectConnection() private readonly connection: Connection,
    private readonly producer: EventProducer,
    private readonly metrics: MessagingMetrics,
    @Inject(MESSAGING_OPTIONS) options: MessagingOptions,
    private readonly topics: TopicAdmin,
  ) {
    this.options = resolveOptions(options);
    this.produced = topicsProducedBy(this.options.serviceName);
  }

  onApplicationBootstrap(): void {
    this.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    let lastSweep = Date.now();
    this.timer = setInterval(() => {
      if (Date.now() - lastSweep >= this.options.relaySweepIntervalMs) {
        lastSweep = Date.now();
        this.sweep ||= 'poll';
      }
      this.kick();
    }, Math.min(this.options.relayIntervalMs, this.options.relaySweepIntervalMs));
    this.timer.unref();
    this.sweep = 'full';
    this.kick();
  }

  /** Publish soon: called after every write that added events. Concurrent kicks coalesce into one more scan. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((error) => {
        this.sweep = 'full'; // what this drain was to publish is still there: look for all of it next time
        this.logger.warn(`outbox relay: ${(error as Error).message}; will retry`);
      })
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Stop polling after publishing everything that is pending (graceful shutdown). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    try {
      await this.flush();
    } catch (error) {
      this.logger.error(`outbox not flushed at shutdown, it will be published at next start: ${error}`);
    }
  }

  /** Publishes every event the outboxes hold (a full sweep that leaves nothing it read for a next drain). */
  async flush(): Promise<void> {
    await this.running;
    this.sweep = 'full';
    await this.drain(true);
  }

  private collections(): Array<{ collection: Collection; namespace: string }> {
    const seen = new Set<string>();
    return Object.values(this.connection.models)
      .filter((model) => model.schema.path('outbox'))
      .map((model) => ({
        collection: model.collection as unknown as Collection,
        namespace: `${model.db.name}.${model.collection.collectionName}`,
      }))
      .filter(({ namespace }) => !seen.has(namespace) && !!seen.add(namespace));
  }

  /**
   * One pass over every outbox collection: the documents noted since the last drain, and those a scan finds (all of
   * them on a `full` sweep, one batch on a `poll`), published in the order their events were written (publishInOrder).
   * `final` (a flush) sends everything it reads, leaving nothing for a next drain.
   */
  private async drain(final = false): Promise<void> {
    // The topics this service writes exist from its start, with its partition count, also those nobody in the
    // platform consumes (a consumer creates what it reads): a no-op once done. Other topics (dead letters, topics
    // the catalog does not list) are created by the producer before their first send.
    await this.topics.ensureTopics(this.produced);
    const collections = this.collections();
    const sweep = this.sweep;
    this.sweep = false;
    for (const { collection, namespace } of collections) {
      const startedAt = Date.now();
      const pending = PendingOutboxes.take(namespace);
      const plan = new Map<string, Planned>(pending.ids.map((noted) => [String(noted.id), { ...noted, noted }]));
      if (sweep || pending.scan) {
        const limit = sweep === 'full' || pending.scan ? undefined : BATCH_SIZE;
        for (const found of await this.pendingDocuments(collection, limit)) {
          const known = plan.get(String(found.id));
          plan.set(String(found.id), { ...found, at: Math.min(found.at, known?.at ?? Infinity), noted: known?.noted });
        }
      }
      await this.publishInOrder(collection, namespace, [...plan.values()].sort((a, b) => a.at - b.at), { startedAt, final });
    }
  }

  /**
   * The documents with entries (a scan: not indexed on every server), each with when its first entry was written;
   * only the entries' times are read, so a large backlog costs little memory.
   */
  private async pendingDocuments(collection: Collection, limit?: number): Promise<Planned[]> {
    const cursor = collection.find<{ _id: unknown; outbox?: Array<{ createdAt: Date }> }>(
      { 'outbox.0': { $exists: true } },
      { projection: { 'outbox.createdAt': 1 } },
    );
    if (limit !== undefined) cursor.limit(limit);
    return (await cursor.toArray()).map((doc) => ({ id: doc._id, at: +new Date(doc.outbox?.[0]?.createdAt ?? 0) }));
  }

  /**
   * Publishes the planned documents (ordered by when their first pending entry was written, or their id was noted)
   * so that events of one key keep the order they were written in, across documents and lookups:
   * - Documents are read `BATCH_SIZE` at a time by `_id`. An entry newer than the next planned document is held back
   *   until that document was read, and goes out merged with its entries by time: a document noted early may have
   *   been given an event since, caused by an event of a document later in the plan.
   * - An entry written after this drain began, to a document noted again since (the next drain reads it), is left to
   *   that drain, which also sends the documents first noted in between (unless `final`).
   * A noted id whose document shows no entries is kept for the next drain while young (its write is still running).
   */
  private async publishInOrder(collection: Collection, namespace: string, plan: Planned[], { startedAt, final }: { startedAt: number; final: boolean }): Promise<void> {
    let held: Timed[] = [];
    for (let i = 0; i < plan.length; i += BATCH_SIZE) {
      const chunk = plan.slice(i, i + BATCH_SIZE);
      const docs = await findByIds<{ _id: unknown; outbox?: OutboxEntry[] }>(collection as never, chunk.map((item) => item.id), { outbox: 1 });
      const empty: NotedId[] = [];
      for (const item of chunk) {
        const doc = docs.get(String(item.id));
        if (!doc?.outbox?.length) {
          if (item.noted) empty.push(item.noted);
          continue;
        }
        const later = !final && PendingOutboxes.isNoted(namespace, doc._id);
        held.push(...timedEntries(doc as { _id: unknown; outbox: OutboxEntry[] }).filter((timed) => !(later && timed.at >= startedAt)));
      }
      this.keepYoung(namespace, empty);
      const next = plan[i + BATCH_SIZE]?.at ?? Infinity;
      // A stable sort: entries of one time keep their order (one document's, in its array order).
      held.sort((a, b) => a.at - b.at);
      const due = held.filter((timed) => timed.at <= next);
      held = held.filter((timed) => timed.at > next);
      await this.publishTimed(collection, due);
    }
  }

  private keepYoung(namespace: string, ids: NotedId[]): void {
    const now = Date.now();
    PendingOutboxes.keep(namespace, ids.filter((noted) => now - noted.at < NOTED_GRACE_MS));
  }

  /**
   * Publishes these entries in this order, then removes exactly those entries. An entry larger than
   * `relayMaxRecordBytes` (with a record's overhead) would be refused by the broker on every drain and stop the relay
   * for every document after it: it is set aside before anything is sent (parkEntry). The others go out in sends of
   * at most that many bytes, in order, so that no partition's batch is larger than the broker accepts. Any failure is
   * thrown: what was not acknowledged stays for the next drain (what a failed send had written is published again:
   * at-least-once).
   */
  private async publishTimed(collection: Collection, timed: Timed[]): Promise<void> {
    const limit = this.options.relayMaxRecordBytes;
    const sendable: OutboxEntry[] = [];
    const docOf = new Map<OutboxEntry, unknown>();
    for (const { entry, docId } of timed) {
      const bytes = recordBytes(entry);
      if (bytes > limit) {
        await this.parkEntry(collection, docId, entry, `record of ${bytes} bytes exceeds OUTBOX_MAX_RECORD_BYTES (${limit})`);
        continue;
      }
      docOf.set(entry, docId);
      sendable.push(entry);
    }
    // Each run removed as soon as the broker acknowledged it (runs go in publish order, so a later failure leaves
    // only later entries): a run the broker keeps refusing does not make the earlier ones go out again every drain.
    for (const entries of byteChunks(sendable, limit)) {
      try {
        await this.send(entries);
      } catch (error) {
        if (!tooLargeForBroker(error)) throw error;
        await this.sendOneByOne(collection, entries, docOf);
        continue;
      }
      await this.removeSent(collection, entries, docOf);
    }
  }

  /**
   * A run the broker refused as too large: a topic whose max.message.bytes is below OUTBOX_MAX_RECORD_BYTES (a
   * partition's batch, or one record, above it). Sent again one entry at a time, in order, each removed once
   * acknowledged; an entry the broker refuses as too large on its own would be refused on every drain and stop the
   * relay, so it is parked with the broker's reason (an operator raises the topic's limit and requeues it). Any other
   * failure is thrown as usual. What the refused run had written to other partitions goes out again (at-least-once).
   */
  private async sendOneByOne(collection: Collection, entries: OutboxEntry[], docOf: Map<OutboxEntry, unknown>): Promise<void> {
    for (const entry of entries) {
      try {
        await this.send([entry]);
      } catch (error) {
        const refusal = tooLargeForBroker(error);
        if (!refusal) throw error;
        await this.parkEntry(collection, docOf.get(entry), entry, `refused by the broker as too large (${refusal}): ${entry.topic}'s max.message.bytes is below this record of ${recordBytes(entry)} bytes`, true);
        continue;
      }
      await this.removeSent(collection, [entry], docOf);
    }
  }

  private async removeSent(collection: Collection, entries: OutboxEntry[], docOf: Map<OutboxEntry, unknown>): Promise<void> {
    const byDoc = new Map<unknown, OutboxEntry[]>();
    for (const entry of entries) {
      const _id = docOf.get(entry);
      const list = byDoc.get(_id);
      if (list) list.push(entry);
      else byDoc.set(_id, [entry]);
    }
    await removePublished(collection, [...byDoc].map(([_id, outbox]) => ({ _id, outbox })));
    this.metrics.published.inc(entries.length);
  }

  private async send(entries: OutboxEntry[]): Promise<void> {
    const byTopic = new Map<string, Array<{ key: string; value: string }>>();
    for (const entry of entries) {
      const list = byTopic.get(entry.topic) ?? [];
      list.push({ key: entry.key, value: entry.value });
      byTopic.set(entry.topic, list);
    }
    await this.producer.sendBatch([...byTopic].map(([topic, messages]) => ({ topic, messages })));
  }

  /**
   * The entries set aside in `outboxParked` (parkEntry), at most `limit`, for an operator: where each is, its event,
   * its size, why and when. A scan of every outbox collection (documents with a parked entry are not indexed): an
   * operator's occasional look, not a request path.
   */
  async parked(limit = 1_000): Promise<ParkedEntrySummary[]> {
    const found: ParkedEntrySummary[] = [];
    for (const { collection } of this.collections()) {
      const cursor = withParked(collection);
      for await (const doc of cursor) {
        for (const entry of doc.outboxParked) {
          if (found.length >= limit) {
            await cursor.close();
            return found;
          }
          found.push({
            collection: collection.collectionName,
            documentId: String(doc._id),
            eventId: entry.eventId,
            topic: entry.topic,
            key: entry.key,
            bytes: recordBytes(entry),
            reason: entry.reason,
            parkedAt: new Date(entry.parkedAt),
            refusedByBroker: entry.refusedByBroker === true,
          });
        }
      }
    }
    return found;
  }

  /**
   * Puts the parked entries that fit OUTBOX_MAX_RECORD_BYTES as it is now back at the end of their documents'
   * outboxes, and publishes them: for an operator who raised the topics' `max.message.bytes` and this setting (and
   * restarted the service) after entries were parked. Entries the broker itself refused (their topic's limit is below
   * this setting) stay parked unless `brokerRefused` says the operator raised those topics' limits: else they would only
   * be refused and parked again. One guarded write per document (exactly the entries read must still be parked: two
   * requeues at once move each once); those still too large stay parked. They go out after the events their documents
   * got since they were parked (the order of their key is not restored: a consumer keeps the newer state where it
   * compares versions, as the platform's do).
   */
  async requeueParked({ brokerRefused = false }: { brokerRefused?: boolean } = {}): Promise<RequeueResult> {
    const limit = this.options.relayMaxRecordBytes;
    const result: RequeueResult = { requeued: 0, tooLarge: 0, refusedByBroker: 0 };
    for (const { collection, namespace } of this.collections()) {
      for await (const doc of withParked(collection)) {
        const fitting: ParkedOutboxEntry[] = [];
        for (const entry of doc.outboxParked) {
          if (recordBytes(entry) > limit) result.tooLarge++;
          else if (entry.refusedByBroker && !brokerRefused) result.refusedByBroker++;
          else fitting.push(entry);
        }
        if (!fitting.length) continue;
        const entries: OutboxEntry[] = fitting.map(({ reason: _reason, parkedAt: _parkedAt, refusedByBroker: _refused, ...entry }) => entry);
        PendingOutboxes.note(namespace, doc._id);
        const moved = await collection.updateOne(
          { _id: doc._id, outboxParked: { $all: fitting } } as never,
          { $pullAll: { outboxParked: fitting }, $push: { outbox: { $each: entries } } } as never,
        );
        if (moved.modifiedCount === 1) result.requeued += fitting.length;
      }
    }
    if (result.requeued) {
      this.logger.warn(
        `outbox relay: ${result.requeued} parked event(s) put back in their outboxes (OUTBOX_MAX_RECORD_BYTES ${limit}); ` +
          `${result.tooLarge} still too large, ${result.refusedByBroker} refused by the broker left parked`,
      );
      this.kick();
    }
    return result;
  }

  /**
   * Moves an entry no broker would take from `outbox` to `outboxParked`, with the reason, in one write: it is never
   * published (the event is lost to its consumers, and said so loudly: an error log and `outbox_events_parked_total`),
   * and it no longer stops the relay. An operator lists it (parked) and, once the limits are raised, puts it back
   * (requeueParked). Guarded by the entry still being
   * there (two drains, a flush and a kick, may meet it at once); the filter is not an index's keys, which costs a
   * collection scan on mongo-java-server, once per parked entry.
   */
  private async parkEntry(collection: Collection, _id: unknown, entry: OutboxEntry, reason: string, refusedByBroker = false): Promise<void> {
    const parked: ParkedOutboxEntry = { ...entry, reason, parkedAt: new Date(), ...(refusedByBroker && { refusedByBroker }) };
    const moved = await collection.updateOne({ _id, 'outbox.eventId': entry.eventId } as never, { $pullAll: { outbox: [entry] }, $push: { outboxParked: parked } } as never);
    if (moved.modifiedCount === 0) return;
    this.metrics.parked.inc({ topic: entry.topic });
    this.logger.error(
      `outbox relay: ${collection.collectionName} ${String(_id)}: event ${entry.eventId} (${entry.topic}, ${Buffer.byteLength(entry.value)} bytes) ` +
        `set aside in outboxParked, not published: ${reason}`,
    );
  }
}

/** The documents of a collection with parked entries (not indexed: a scan, for an operator's occasional call). */
function withParked(collection: Collection) {
  return collection.find<{ _id: unknown; outboxParked: ParkedOutboxEntry[] }>(
    { 'outboxParked.0': { $exists: true } },
    { projection: { outboxParked: 1 } },
  );
}

/** What a requeue did (OutboxRelay.requeueParked). */
export interface RequeueResult {
  requeued: number;
  /** Still larger than OUTBOX_MAX_RECORD_BYTES: left parked. */
  tooLarge: number;
  /** Refused by the broker on their own, left parked (requeued only when asked to: `brokerRefused`). */
  refusedByBroker: number;
}

/** A parked outbox entry, as an operator sees it (OutboxRelay.parked). */
export interface ParkedEntrySummary {
  collection: string;
  documentId: string;
  eventId: string;
  topic: string;
  key: string;
  /** Its size as the relay counts it against OUTBOX_MAX_RECORD_BYTES (key, value and a record's overhead). */
  bytes: number;
  reason: string;
  parkedAt: Date;
  refusedByBroker: boolean;
}

/** An entry with the time it is published by (timedEntries) and its document. */
interface Timed {
  entry: OutboxEntry;
  at: number;
  docId: unknown;
}

/** A document to publish: its id, when its first pending entry was written (or it was noted), and its note. */
interface Planned {
  id: unknown;
  at: number;
  noted?: NotedId;
}

/**
 * A document's entries with the time each is published by: its `createdAt`, but never before an entry ahead of it in
 * the array (the order its guarded writes committed them); `createdAt` alone could reverse one document's entries
 * when two writers' clocks disagree.
 */
function timedEntries(doc: { _id: unknown; outbox: OutboxEntry[] }): Timed[] {
  let at = -Infinity;
  return doc.outbox.map((entry) => {
    at = Math.max(at, +new Date(entry.createdAt));
    return { entry, at, docId: doc._id };
  });
}

/**
 * The entries of these documents in the order to publish them: each document's in its array order, documents
 * interleaved by creation time (timedEntries), so events of one key keep the order they were written in.
 */
export function publishOrder(docs: Array<{ outbox: OutboxEntry[] }>): OutboxEntry[] {
  // A stable sort: equal times keep their array order.
  return docs.flatMap((doc) => timedEntries({ _id: undefined, ...doc })).sort((a, b) => a.at - b.at).map(({ entry }) => entry);
}

/**
 * Removes exactly these entries (as read) from these documents; entries written after the read stay. $pullAll of
 * whole subdocuments is what MongoDB and FerretDB both support. An entry is one event (its own eventId), so the
 * entries of a group of documents can be pulled from all of them by one updateMany by `_id $in`: each document
 * loses its own, and no other document holds them.
 */
export async function removePublished(collection: Collection, docs: Array<{ _id: unknown; outbox: OutboxEntry[] }>): Promise<void> {
  for (let i = 0; i < docs.length; i += PULL_GROUP) {
    const group = docs.slice(i, i + PULL_GROUP);
    await collection.updateMany({ _id: { $in: group.map((doc) => doc._id) } } as never, { $pullAll: { outbox: group.flatMap((doc) => doc.outbox) } } as never);
  }
}

/**
 * The bytes an entry takes in a send: key, value, and a record's own overhead (varint lengths, offset and timestamp
 * deltas, attributes; generously), so that an entry counted as fitting OUTBOX_MAX_RECORD_BYTES fits a broker limit of
 * the same value, batch header included.
 */
export function recordBytes(entry: OutboxEntry): number {
  return Buffer.byteLength(entry.key) + Buffer.byteLength(entry.value) + RECORD_OVERHEAD_BYTES;
}

const RECORD_OVERHEAD_BYTES = 128;

/** Consecutive runs of entries of at most `limit` bytes each (an entry alone is never larger: see publishTimed). */
export function byteChunks(entries: OutboxEntry[], limit: number): OutboxEntry[][] {
  const chunks: OutboxEntry[][] = [];
  let current: OutboxEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = recordBytes(entry);
    if (current.length && bytes + size > limit) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length) chunks.push(current);
  return chunks;
}
