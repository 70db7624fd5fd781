import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { Collection, Connection } from 'mongoose';
import { findByIds } from './batch-loader';
import { UPDATES_PER_COMMAND } from './bulk-write-batcher';
import { describeError, isNonRetriable } from './errors';
import { EventProducer } from './event-producer';
import { MessagingMetrics } from './metrics';
import { MESSAGING_OPTIONS, MessagingOptions, resolveOptions } from './options';
import { OutboxEntry, ParkedOutboxEntry, PendingOutboxes } from './outbox';

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
   * The next drain scans every outbox collection: `full` until nothing is left (start, flush), `poll` one batch per
   * collection (the poll interval: a safety net for writes nobody noted; on a collection being written fast, each
   * scan from the start skips every drained document, and looping would make a large backlog quadratic).
   */
  private sweep: 'full' | 'poll' | false = 'full';
  private stopped = true;

  constructor(
    @InjectConnection() private readonly connection: Connection,
    private readonly producer: EventProducer,
    private readonly metrics: MessagingMetrics,
    @Inject(MESSAGING_OPTIONS) options: MessagingOptions,
  ) {
    this.options = resolveOptions(options);
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

  /** Publishes until no outbox holds an event. */
  async flush(): Promise<void> {
    await this.running;
    this.sweep = 'full';
    await this.drain();
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

  private async drain(): Promise<void> {
    const collections = this.collections();
    const sweep = this.sweep;
    this.sweep = false;
    for (const { collection, namespace } of collections) {
      const pending = PendingOutboxes.take(namespace);
      if (sweep || pending.scan) {
        const loop = sweep === 'full' || pending.scan;
        for (;;) {
          const published = await this.publishBatch(collection, await this.scanBatch(collection));
          if (published < BATCH_SIZE || !loop) break;
        }
        if (loop) {
          // Noted writes may still be on their way: look again at the young ones next time.
          this.keepYoung(namespace, pending.ids.entries());
          continue;
        }
        // A poll: the noted documents are published by _id below, whatever one scan batch left.
      }
      const ids = [...pending.ids];
      for (let i = 0; i < ids.length; i += BATCH_SIZE) {
        const chunk = ids.slice(i, i + BATCH_SIZE);
        const docs = await this.byIds(collection, chunk.map(([id]) => id));
        await this.publishBatch(collection, docs.filter((doc) => doc.outbox?.length) as Array<{ _id: unknown; outbox: OutboxEntry[] }>);
        const done = new Set(docs.filter((doc) => doc.outbox?.length).map((doc) => String(doc._id)));
        this.keepYoung(namespace, chunk.filter(([id]) => !done.has(String(id))));
      }
    }
  }

  private keepYoung(namespace: string, ids: Iterable<[unknown, number]>): void {
    const now = Date.now();
    PendingOutboxes.keep(namespace, [...ids].filter(([, at]) => now - at < NOTED_GRACE_MS));
  }

  private async scanBatch(collection: Collection): Promise<Array<{ _id: unknown; outbox: OutboxEntry[] }>> {
    return (await collection
      .find({ 'outbox.0': { $exists: true } }, { projection: { outbox: 1 } })
      .limit(BATCH_SIZE)
      .toArray()) as unknown as Array<{ _id: unknown; outbox: OutboxEntry[] }>;
  }

  private async byIds(collection: Collection, ids: unknown[]): Promise<Array<{ _id: unknown; outbox?: OutboxEntry[] }>> {
    return [...(await findByIds<{ _id: unknown; outbox?: OutboxEntry[] }>(collection as never, ids, { outbox: 1 })).values()];
  }

  /**
   * Publishes the entries of these documents in creation order, then removes exactly those entries. A refusal that
   * retrying cannot fix (an entry larger than the topic accepts, an invalid record) would fail the same batch on every
   * drain and stop the relay for every document after it: the batch is split in halves until the document, then the
   * entry, the broker refuses is alone; that entry is set aside (parkEntry) and the others are published. Any other
   * failure (the broker unreachable) is thrown: everything stays for the next drain.
   */
  private async publishBatch(collection: Collection, docs: Array<{ _id: unknown; outbox: OutboxEntry[] }>): Promise<number> {
    if (docs.length === 0) return 0;
    try {
      await this.send(publishOrder(docs));
    } catch (error) {
      if (!isNonRetriable(error)) throw error;
      if (docs.length > 1) {
        const half = Math.ceil(docs.length / 2);
        await this.publishBatch(collection, docs.slice(0, half));
        await this.publishBatch(collection, docs.slice(half));
        return docs.length;
      }
      await this.publishOneByOne(collection, docs[0], error);
      return 1;
    }
    await removePublished(collection, docs);
    const count = docs.reduce((n, doc) => n + doc.outbox.length, 0);
    this.metrics.published.inc(count);
    return docs.length;
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

  /** One document whose entries the broker refused together: each in its order, the refused ones set aside. */
  private async publishOneByOne(collection: Collection, doc: { _id: unknown; outbox: OutboxEntry[] }, refusal: unknown): Promise<void> {
    if (doc.outbox.length === 1) return this.parkEntry(collection, doc._id, doc.outbox[0], refusal);
    for (const entry of doc.outbox) {
      try {
        await this.send([entry]);
      } catch (error) {
        if (!isNonRetriable(error)) throw error;
        await this.parkEntry(collection, doc._id, entry, error);
        continue;
      }
      await removePublished(collection, [{ _id: doc._id, outbox: [entry] }]);
      this.metrics.published.inc(1);
    }
  }

  /**
   * Moves an entry the broker refused for good from `outbox` to `outboxParked`, with the refusal, in one write: it is
   * never published (the event is lost to its consumers, and said so loudly: an error log and
   * `outbox_events_parked_total`), and it no longer stops the relay. An operator can read it from the document.
   */
  private async parkEntry(collection: Collection, _id: unknown, entry: OutboxEntry, refusal: unknown): Promise<void> {
    const type = (refusal as { type?: unknown })?.type;
    const reason = `${typeof type === 'string' ? `${type}: ` : ''}${describeError(refusal)}`.slice(0, 1_000);
    const parked: ParkedOutboxEntry = { ...entry, reason, parkedAt: new Date() };
    // Guarded by the entry still being there: two drains (a flush and a kick) may meet the same refusal at once.
    const moved = await collection.updateOne({ _id, 'outbox.eventId': entry.eventId } as never, { $pullAll: { outbox: [entry] }, $push: { outboxParked: parked } } as never);
    if (moved.modifiedCount === 0) return;
    this.metrics.parked.inc({ topic: entry.topic });
    this.logger.error(
      `outbox relay: ${collection.collectionName} ${String(_id)}: event ${entry.eventId} (${entry.topic}, ${Buffer.byteLength(entry.value)} bytes) ` +
        `refused by the broker for good and set aside in outboxParked, not published: ${reason}`,
    );
  }
}

/**
 * The entries of these documents in the order to publish them: each document's in its array order (the order its
 * guarded writes committed them), documents interleaved by creation time, so events of one key keep the order they
 * were written in. `createdAt` alone could reverse one document's entries when two writers' clocks disagree.
 */
export function publishOrder(docs: Array<{ outbox: OutboxEntry[] }>): OutboxEntry[] {
  const timed = docs.flatMap((doc) => {
    let at = -Infinity;
    return doc.outbox.map((entry) => {
      at = Math.max(at, +new Date(entry.createdAt));
      return { entry, at };
    });
  });
  // A stable sort: equal times keep their array order.
  return timed.sort((a, b) => a.at - b.at).map(({ entry }) => entry);
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
