import { Topic, topicsProducedBy } from '@lib/contracts';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { Partitioners, type Message } from 'kafkajs';
import { Collection, Connection } from 'mongoose';
import { findByIds } from './batch-loader';
import { Trace } from './context';
import { UPDATES_PER_COMMAND } from './bulk-write-batcher';
import { describeError, isNonRetriable, tooLargeForBroker, writeNotAuthorized } from './errors';
import { EventProducer } from './event-producer';
import { MessagingMetrics, relayStatuses, RelayStatus } from './metrics';
import { MESSAGING_OPTIONS, MessagingOptions, resolveOptions } from './options';
import { idKey, NotedId, OutboxEntry, ParkedOutboxEntry, PENDING_OUTBOX, PendingOutboxes } from './outbox';
import { TopicAdmin } from './topic-admin';

const BATCH_SIZE = 200;
/**
 * Documents per removal command: each document's entries are compared with the whole group's (quadratic), and the
 * updates per command are bounded anyway (FerretDB).
 */
const PULL_GROUP = UPDATES_PER_COMMAND;
/**
 * How old the oldest pending entry of a document nobody here noted must be before a poll reads the whole backlog for
 * it: younger, it is another replica's, being published by that replica's relay (a burst, a rollover's), not a crashed
 * writer's. A restarted writer sweeps its own at start; this is for one that does not come back.
 */
export const ORPHANED_AFTER_MS = 120_000;
/** How long an id noted before its write stays pending when its document shows no entries yet. */
const NOTED_GRACE_MS = 2_000;
/**
 * The most a drain holds back (entries waiting for older entries of their key in documents not read yet), in bytes as
 * the relay counts them: past it, the oldest held entries go out anyway (an order kept only within what fits).
 */
const HOLD_LIMIT_BYTES = 16 * 1024 * 1024;

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
  /** When the next drain may start after failed ones (status.consecutiveFailures): an outage is retried with a growing delay. */
  private retryAt = 0;
  /** For /metrics (RelayStatus), and the failures in a row that set retryAt. */
  private readonly status: RelayStatus = { consecutiveFailures: 0 };
  /** The running drain has read what it is to publish. */
  private planRead = false;
  /** When the current run of failed drains began. */
  private failingSince?: number;
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
    // Counted from the start until a drain succeeds: a relay that never drains is not 'never' (0) but ever older.
    this.status.lastSuccessAt ??= Date.now();
    relayStatuses.add(this.status);
    this.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stop();
    relayStatuses.delete(this.status);
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

  /**
   * Publish soon: called after every write that added events. Concurrent kicks coalesce into one more scan. After a
   * failed drain, none starts before its retry time (the timer kicks again): each retry of a full sweep reads every
   * pending document's times, which is not to be done every second of a broker outage.
   */
  kick(): void {
    if (this.stopped || Date.now() < this.retryAt) return;
    if (this.running) {
      this.again = true;
      return;
    }
    // Its failure's line too outside the trace of whoever kicked it: the drain is for every writer's events.
    this.track(
      Trace.detached(() =>
        this.drain()
          .then(() => {
            this.retryAt = 0;
          })
          .catch((error) => {
            // Only topics the broker refuses for good held back, everything else published: no wait before the next
            // drain, nor a full sweep (the other topics' events go out as they are written), the line once a minute.
            // Still a failed drain (OutboxRelayNotDraining, the age of the oldest unpublished event).
            if ((error as { heldBack?: boolean }).heldBack) {
              this.retryAt = 0;
              if (Date.now() - this.heldBackSaidAt >= UNCREATABLE_RETRY_MS) {
                this.heldBackSaidAt = Date.now();
                this.logger.warn(`outbox relay: ${describeError(error)} (said once a minute)`);
              }
              return;
            }
            this.sweep = 'full'; // what this drain was to publish is still there: look for all of it next time
            const delay = Math.min(this.options.relayIntervalMs * 2 ** (this.status.consecutiveFailures - 1), this.options.relaySweepIntervalMs);
            this.retryAt = Date.now() + delay;
            this.logger.warn(`outbox relay: ${describeError(error)}; will retry in ${delay} ms`);
          }),
      ),
    );
  }

  /** When a drain holding back topics the broker refuses was last said (kick). */
  private heldBackSaidAt = -Infinity;

  /** `work` (a drain that does not reject) is the relay's one drain until it ends; the kicks meanwhile drain after it. */
  private track(work: Promise<void>): void {
    const running: Promise<void> = work.finally(() => {
      if (this.running === running) this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.kick();
      }
    });
    this.running = running;
  }

  /** Stop polling after publishing everything that is pending (graceful shutdown). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    try {
      // After the running drain, if any (flush waits for it).
      await this.flush();
    } catch (error) {
      this.logger.error(`outbox not flushed at shutdown, it will be published at next start: ${error}`);
    }
  }

  /**
   * Publishes every event the outboxes hold (a full sweep that leaves nothing it read for a next drain). It runs as the
   * relay's one drain: a kick meanwhile drains after it, never beside it (two drains would send the same entries with
   * one producer at once, and a request the broker refuses rolls back the sequence numbers the other was sent with).
   */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    this.sweep = 'full';
    const drained = this.drain(true);
    this.track(drained.catch(() => undefined));
    await drained;
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
   * them on a `full` sweep, one batch on a `poll`), published in the order their events were written (publishInOrder),
   * across collections too (two collections may publish on one topic with the same keys). `final` (a flush) sends
   * everything it reads, leaving nothing for a next drain.
   */
  private async drain(final = false): Promise<void> {
    this.planRead = false;
    try {
      await this.drainOnce(final);
      Object.assign(this.status, { consecutiveFailures: 0, lastSuccessAt: Date.now(), unpublishedSince: undefined });
      this.failingSince = undefined;
    } catch (error) {
      // What this drain had not published yet is the oldest unpublished (the next drain, a full sweep, says exactly);
      // one that failed before it read its documents (the database, or the broker while it creates the topics at
      // start) leaves what was known: OutboxRelayNotDraining covers those.
      this.status.consecutiveFailures++;
      this.failingSince ??= Date.now();
      if (this.planRead) this.status.unpublishedSince = this.status.inFlightSince;
      throw error;
    } finally {
      this.status.inFlightSince = undefined;
    }
  }

  /**
   * The topics this service writes that the broker refused to create for good (no permission to create them, a policy
   * refusing them), with the refusal and when: their events wait (publishTimed), every other topic's go out. Asked again
   * (and said again) once a minute, not on every drain. Before, one such topic (one nobody in the platform reads, so
   * nobody else creates it) stopped every event of the service.
   */
  private readonly refusals = new Map<string, { at: number; error: unknown }>();

  /** Creates the topics this service writes where missing, keeping `refusals` as the broker answers. */
  private async ensureProduced(): Promise<void> {
    const now = Date.now();
    const wanted = this.produced.filter((topic) => !(now - (this.refusals.get(topic)?.at ?? -Infinity) < UNCREATABLE_RETRY_MS));
    try {
      await this.topics.ensureTopics(wanted);
      for (const topic of wanted) this.refusals.delete(topic);
      return;
    } catch (error) {
      // A broker away, a leader moving: the drain fails and is retried, as before.
      if (!refusedForGood(error)) throw error;
    }
    for (const topic of wanted) {
      try {
        await this.topics.ensureTopics([topic]);
        this.refusals.delete(topic);
      } catch (error) {
        if (!refusedForGood(error)) throw error;
        this.refusals.set(topic, { at: now, error });
        this.logger.warn(`outbox relay: the broker refuses to create ${topic} (${describeError(error)}): its events wait until it exists; every other topic's are published (asked again in a minute)`);
      }
    }
  }

  /** drain's work; sets planRead and status.inFlightSince once it has read what it will publish. */
  private async drainOnce(final: boolean): Promise<void> {
    // The topics this service writes exist from its start, with its partition count, also those nobody in the
    // platform consumes (a consumer creates what it reads): a no-op once done. Other topics (dead letters, topics
    // the catalog does not list) are created by the producer before their first send. First, so that a broker down at
    // start does not cost a scan of every outbox collection per retry.
    await this.ensureProduced();
    const sweep = this.sweep;
    this.sweep = false;
    const startedAt = Date.now();
    const plan: Planned[] = [];
    // Every collection's notes are taken before the first scan: a document noted while a scan runs belongs to the next
    // drain, whichever collection it is in (taken after another's scan, its entries could go ahead of older ones of
    // their keys written to a collection taken before, which this drain leaves to the next).
    const taken = this.collections().map((source) => ({ source, pending: PendingOutboxes.take(source.namespace) }));
    // The documents drains before held back (a topic refused for good): read again by the next drain that publishes
    // anything once one of those topics may be sent to again (or by a scan), so that their events, older, go ahead of
    // the later ones of their keys once it is accepted. Not while each is still refused (their events would be held
    // back again, as are the later ones of those topics), nor every second while nothing else is written.
    const active = !!sweep || taken.some(({ pending }) => pending.ids.length > 0 || pending.scan);
    const freed = [...this.heldBackTopics].some((topic) => !this.refusals.has(topic) && !this.recentWriteRefusal(topic));
    const reread = active && this.heldBackDocuments.size > 0 && (freed || !!sweep);
    const carried = reread ? this.heldBackDocuments : new Map<string, Map<unknown, Planned>>();
    if (reread) {
      this.heldBackDocuments = new Map();
      this.heldBackTopics = new Set();
    }
    for (const { source, pending } of taken) {
      const items = new Map<unknown, Planned>(pending.ids.map((noted) => [idKey(noted.id), { source, id: noted.id, at: noted.at, noted }]));
      for (const { id, at } of carried.get(source.namespace)?.values() ?? []) {
        const known = items.get(idKey(id));
        items.set(idKey(id), known ? { ...known, at: Math.min(known.at, at) } : { source, id, at });
      }
      if (sweep || pending.scan) {
        const limit = sweep === 'full' || pending.scan ? undefined : BATCH_SIZE;
        let scanned = await this.pendingDocuments(source, limit);
        // A poll's page comes in the index's order (event ids), not by age: a full page holding documents nobody noted
        // (a crashed writer's backlog) may have left out older events of their keys, which would go out after them.
        // Then it reads them all. A page of noted documents only (a busy writer's: in this drain's plan, or noted since
        // for the next) adds none; nor does one whose documents noted by nobody here are all young (another replica's
        // burst, which its relay is publishing: this one published it a second time), so the page is left out whole.
        // (A document only carried, held back before, is noted by nobody: one old in the page still reads them all.)
        const notedBySomeone = (id: unknown) => items.get(idKey(id))?.noted !== undefined || PendingOutboxes.isNoted(source.namespace, id);
        if (limit !== undefined && scanned.length >= limit) {
          const others = scanned.filter((found) => !notedBySomeone(found.id));
          if (others.some((found) => found.at <= startedAt - ORPHANED_AFTER_MS)) scanned = await this.pendingDocuments(source);
          else if (others.length) scanned = [];
        }
        for (const found of scanned) {
          const known = items.get(idKey(found.id));
          // A noted one may have been given entries of any key since the scan: its noted time bounds them all.
          items.set(idKey(found.id), known ? { ...known, at: Math.min(found.at, known.at) } : found);
        }
      }
      plan.push(...items.values());
    }
    plan.sort((a, b) => a.at - b.at);
    // Entries without a time count from this drain, or from the first of the failures in a row (each retry is a new drain).
    const undated = this.failingSince ?? startedAt;
    this.status.inFlightSince = oldestTime(plan, undated);
    this.planRead = true;
    const heldBack: HeldBack = { topics: new Map(), partitions: new Map(), partitionCounts: new Map(), undated, documents: new Map() };
    await this.publishInOrder(plan, { startedAt, final, undated, heldBack });
    for (const [namespace, documents] of heldBack.documents) {
      const kept = this.heldBackDocuments.get(namespace) ?? new Map<unknown, Planned>();
      this.heldBackDocuments.set(namespace, kept);
      for (const [key, held] of documents) kept.set(key, { ...held, at: Math.min(held.at, kept.get(key)?.at ?? Infinity) });
    }
    for (const topic of heldBack.topics.keys()) this.heldBackTopics.add(topic);
    throwIfHeldBack(heldBack);
  }

  /** Topics this client is not authorized to write (a send refused), with the refusal and when (publishTimed). */
  private readonly writeRefusals = new Map<string, { at: number; error: unknown }>();

  private recentWriteRefusal(topic: string): { at: number; error: unknown } | undefined {
    const refusal = this.writeRefusals.get(topic);
    if (refusal && Date.now() - refusal.at < this.options.relaySweepIntervalMs) return refusal;
    this.writeRefusals.delete(topic);
    return undefined;
  }

  /**
   * Per collection (namespace), the documents drains held back entries of since they were last read again, each with
   * its oldest held entry's time; and the topics they were held back for.
   */
  private heldBackDocuments = new Map<string, Map<unknown, Planned>>();
  private heldBackTopics = new Set<string>();

  /**
   * The documents with entries (PENDING_OUTBOX: on MongoDB, read from its index), each with when its first entry was
   * written and the earliest time of each key among its entries; only the entries' times and keys are read, so a large
   * backlog costs little memory.
   */
  private async pendingDocuments(source: Source, limit?: number): Promise<Planned[]> {
    const cursor = source.collection.find<{ _id: unknown; outbox?: Array<{ createdAt?: unknown; key?: unknown }> }>(
      PENDING_OUTBOX,
      { projection: { 'outbox.createdAt': 1, 'outbox.key': 1 } },
    );
    if (limit !== undefined) cursor.limit(limit);
    return (await cursor.toArray()).map((doc) => {
      // Each key's first time, as the entries will be published by: the first entry's is the document's.
      const keys = new Map<string, number>();
      for (const { entry, at } of timedEntries(source, { _id: doc._id, outbox: (doc.outbox ?? []) as OutboxEntry[] })) {
        if (!keys.has(String(entry.key))) keys.set(String(entry.key), at);
      }
      return { source, id: doc._id, at: keys.values().next().value ?? 0, keys };
    });
  }

  /**
   * Publishes the planned documents (ordered by when their first pending entry was written, or their id was noted)
   * so that events of one key keep the order they were written in, across documents, collections and lookups:
   * - Documents are read `BATCH_SIZE` at a time by `_id`. An entry is held back while a document not read yet may hold
   *   an older entry of its key (Horizon): one scanned has its keys' times, one noted (its entries not seen) any key
   *   from its noted time on. A document noted early may have been given an event since, caused by an event of a
   *   document later in the plan. Held entries go out merged with the later documents' entries by time; past
   *   HOLD_LIMIT_BYTES the oldest go out anyway.
   * - An entry written after this drain began, to a document noted again since (the next drain reads it), is left to
   *   that drain, which also sends the documents first noted in between (unless `final`).
   * A noted id whose document shows no entries is kept for the next drain while young (its write is still running),
   * and so is one whose write was running when the read began (PendingOutboxes.begin): what it adds goes out next.
   */
  private async publishInOrder(
    plan: Planned[],
    { startedAt, final, undated, heldBack }: { startedAt: number; final: boolean; undated: number; heldBack: HeldBack },
  ): Promise<void> {
    const horizon = new Horizon(plan);
    let held: Timed[] = [];
    for (let i = 0; i < plan.length; i += BATCH_SIZE) {
      const chunk = plan.slice(i, i + BATCH_SIZE);
      for (const [source, items] of groupBy(chunk, (item) => item.source)) {
        // Writes running as the read starts may commit their entries just after it: such documents are read again.
        const running = new Set(items.filter((item) => PendingOutboxes.isWriting(source.namespace, item.id)));
        const found = await findByIds<{ _id: unknown; outbox?: OutboxEntry[] }>(source.collection as never, items.map((item) => item.id), { outbox: 1 });
        const docs = new Map([...found.values()].map((doc) => [idKey(doc._id), doc]));
        const empty: NotedId[] = [];
        const again: NotedId[] = [];
        for (const item of items) {
          if (item.noted && running.has(item)) again.push(item.noted);
          const doc = docs.get(idKey(item.id));
          if (!doc?.outbox?.length) {
            if (item.noted) empty.push(item.noted);
            continue;
          }
          const later = !final && PendingOutboxes.mayHaveWritesSince(source.namespace, doc._id);
          for (const timed of timedEntries(source, doc as { _id: unknown; outbox: OutboxEntry[] })) {
            if (later && timed.at >= startedAt) continue;
            held.push(timed);
          }
        }
        this.keepYoung(source.namespace, empty);
        PendingOutboxes.keep(source.namespace, again);
      }
      const unread = i + BATCH_SIZE;
      // A stable sort: entries of one time keep their order (one document's, in its array order).
      held.sort((a, b) => a.at - b.at);
      const due: Timed[] = [];
      const waiting: Timed[] = [];
      for (const timed of held) (timed.at > horizon.earliest(timed.entry.key, unread) ? waiting : due).push(timed);
      let released = 0;
      for (let waitingBytes = bytesOf(waiting); waitingBytes > HOLD_LIMIT_BYTES && released < waiting.length; released++) {
        waitingBytes -= recordBytes(waiting[released].entry);
        due.push(waiting[released]);
      }
      if (released) {
        this.logger.warn(`outbox relay: ${released} event(s) sent before older events of their keys not read yet (more than ${HOLD_LIMIT_BYTES} bytes held)`);
        due.sort((a, b) => a.at - b.at);
      }
      held = waiting.slice(released);
      await this.publishTimed(due, heldBack, final);
      const left = [oldestTime(held, undated), oldestTime(plan.slice(unread, unread + 1), undated), heldBack.oldest].filter((at) => at !== undefined);
      this.status.inFlightSince = left.length ? Math.min(...left) : undefined;
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
   * at most that many bytes, in order, so that no partition's batch is larger than the broker accepts. A failure that
   * holds back only some topics or partitions (`heldBack`, kept for the whole drain) lets the others go on; any other
   * failure is thrown: what was not acknowledged stays for the next drain (what a failed send had written is published
   * again: at-least-once).
   */
  private async publishTimed(timed: Timed[], heldBack: HeldBack, final = false): Promise<void> {
    const limit = this.options.relayMaxRecordBytes;
    const sendable: OutboxEntry[] = [];
    const docOf = new Map<OutboxEntry, Timed>();
    for (const item of timed) {
      const bytes = recordBytes(item.entry);
      if (bytes > limit) {
        await this.parkEntry(item.source.collection, item.docId, item.entry, `record of ${bytes} bytes exceeds OUTBOX_MAX_RECORD_BYTES (${limit})`);
        continue;
      }
      docOf.set(item.entry, item);
      sendable.push(item.entry);
    }
    // Each run removed as soon as the broker acknowledged it (runs go in publish order, so a later failure leaves
    // only later entries): a run the broker keeps refusing does not make the earlier ones go out again every drain.
    // A topic the broker refuses for good (not authorized to write it): its entries wait, in order, and every other
    // topic's go on; before, its run failed the drain again and again, re-sending what the run had written to other
    // partitions, and nothing after it went out, on any topic. So does a partition a send cannot reach while the
    // others take theirs (its leader not answering, too few in-sync replicas): what follows it on that partition waits.
    // A topic that does not exist and cannot be created: its entries wait too (held back only if it has some).
    // A topic this client may not write (a send refused: TOPIC_AUTHORIZATION_FAILED) is not sent to again before
    // relaySweepIntervalMs (but by a flush): the drains meanwhile hold its events back without a send (each would be
    // refused, and what it wrote to the other topics sent again). Other refusals are sent again by the next drain.
    for (const entry of sendable) {
      const refusal = this.refusals.get(entry.topic) ?? (final ? undefined : this.recentWriteRefusal(entry.topic));
      if (refusal) heldBack.topics.set(entry.topic, refusal.error);
    }
    for (const run of byteChunks(sendable, limit)) {
      // Once a partition is held back, the runs after go partition by partition at once: another partition not
      // answering costs one failed send, not a failed send of the whole run first.
      const splitting = heldBack.partitions.size > 0;
      if (splitting) await this.learnPartitions(heldBack, run);
      const entries = run.filter((entry) => !heldBack.topics.has(entry.topic) && !heldBack.partitions.has(partitionOf(entry, heldBack)));
      if (entries.length === 0) continue;
      if (splitting) {
        await this.sendPartitionByPartition(entries, docOf, heldBack, true);
        continue;
      }
      try {
        await this.send(entries);
      } catch (error) {
        if (tooLargeForBroker(error)) await this.sendOneByOne(entries, docOf, heldBack.topics);
        else if (isNonRetriable(error)) await this.sendTopicByTopic(entries, docOf, heldBack.topics);
        else if (!(await this.sendPartitionByPartition(entries, docOf, heldBack, false))) throw error;
        continue;
      }
      await this.removeSent(entries, docOf);
    }
    // What this call leaves (held back, not parked): the age /metrics tells of the oldest event not published, and the
    // documents the next drain reads again.
    for (const { at, docId, source } of docOf.values()) {
      const time = at > 0 ? at : heldBack.undated;
      heldBack.oldest = Math.min(heldBack.oldest ?? Infinity, time);
      const documents = heldBack.documents.get(source.namespace) ?? new Map<unknown, Planned>();
      heldBack.documents.set(source.namespace, documents);
      const known = documents.get(idKey(docId));
      if (!known || time < known.at) documents.set(idKey(docId), { source, id: docId, at: time });
    }
  }

  /**
   * A run a send failed on, for a reason that may be one partition's (its leader not answering, too few in-sync
   * replicas), or (`splitting`) a run after a partition was held back: sent partition by partition, the partitions at
   * once, each removed once acknowledged. The partitions that fail go into `heldBack` (their entries, and every later
   * one of theirs in this drain, wait for the next drain), and the drain goes on with the others. False when that
   * tells nothing, nothing sent: a failed run of one partition, or whose topics' partitions are unknown (no broker
   * answers, or a partition without a leader fails the metadata too): the drain fails as before. Thrown when every
   * partition of the run failed (the broker away): the drain ends, rather than paying a failed send for every run left.
   */
  private async sendPartitionByPartition(entries: OutboxEntry[], docOf: Map<OutboxEntry, Timed>, heldBack: HeldBack, splitting: boolean): Promise<boolean> {
    try {
      await this.learnPartitions(heldBack, entries);
    } catch {
      return false;
    }
    const groups = [...groupBy(entries, (entry) => partitionOf(entry, heldBack))];
    if (groups.length < 2 && !splitting) return false;
    const outcomes = await Promise.allSettled(groups.map(([, group]) => this.send(group)));
    const failed = groups.flatMap(([partition], i) => (outcomes[i].status === 'rejected' ? [{ partition, error: (outcomes[i] as PromiseRejectedResult).reason }] : []));
    if (failed.length === groups.length && !failed.some(({ error }) => tooLargeForBroker(error))) throw failed[0].error;
    // A partition's group refused as too large is no partition out of reach: its entries go one by one (parking the one
    // too large), as a run refused so does.
    const tooLarge = new Set(failed.filter(({ error }) => tooLargeForBroker(error)).map(({ partition }) => partition));
    for (const { partition, error } of failed) if (!tooLarge.has(partition)) heldBack.partitions.set(partition, error);
    await this.removeSent(groups.filter(([partition]) => !heldBack.partitions.has(partition) && !tooLarge.has(partition)).flatMap(([, group]) => group), docOf);
    for (const [partition, group] of groups) if (tooLarge.has(partition)) await this.sendOneByOne(group, docOf, heldBack.topics);
    return true;
  }

  /**
   * The partition counts of these entries' topics not known yet in this drain (the broker's metadata). Once a partition
   * is held back, a topic whose count cannot be read (not created yet, a partition without a leader) is held back whole
   * (`topic:?`): none of its entries can be told apart from the held partition's.
   */
  private async learnPartitions(heldBack: HeldBack, entries: OutboxEntry[]): Promise<void> {
    const unknown = [...new Set(entries.map((entry) => entry.topic))].filter((topic) => !heldBack.partitionCounts.has(topic) && !heldBack.partitions.has(`${topic}:?`));
    if (unknown.length === 0) return;
    let counts: Map<string, number>;
    try {
      counts = await this.topics.partitionCounts(unknown);
    } catch (error) {
      if (heldBack.partitions.size === 0) throw error;
      for (const topic of unknown) heldBack.partitions.set(`${topic}:?`, error);
      return;
    }
    for (const [topic, count] of counts) heldBack.partitionCounts.set(topic, count);
  }

  /**
   * A run the broker refused for good, not for its size: sent again topic by topic (each topic's in order), each
   * removed once acknowledged; a topic refused again goes into `blocked` (its entries stay for the next drain).
   */
  private async sendTopicByTopic(entries: OutboxEntry[], docOf: Map<OutboxEntry, Timed>, blocked: Map<string, unknown>): Promise<void> {
    for (const [topic, group] of groupBy(entries, (entry) => entry.topic)) {
      try {
        await this.send(group);
      } catch (error) {
        if (tooLargeForBroker(error)) {
          await this.sendOneByOne(group, docOf, blocked);
          continue;
        }
        if (!isNonRetriable(error)) throw error;
        blocked.set(topic, error);
        if (writeNotAuthorized(error)) this.writeRefusals.set(topic, { at: Date.now(), error });
        continue;
      }
      await this.removeSent(group, docOf);
    }
  }

  /**
   * A run the broker refused as too large: a topic whose max.message.bytes is below OUTBOX_MAX_RECORD_BYTES (a
   * partition's batch, or one record, above it). Sent again one entry at a time, in order, each removed once
   * acknowledged; an entry the broker refuses as too large on its own would be refused on every drain and stop the
   * relay, so it is parked with the broker's reason (an operator raises the topic's limit and requeues it). An entry
   * refused for good for another reason (its topic not writable) holds back its topic, its later entries with it, in
   * `blocked` (as sendTopicByTopic does), and the others go on: a run holding both used to fail on that entry drain after
   * drain, the one too large never parked and every topic's events waiting. Any other failure (a retriable one: the
   * broker or a partition not answering) is thrown as usual. What the refused run had written to other partitions goes
   * out again (at-least-once).
   */
  private async sendOneByOne(entries: OutboxEntry[], docOf: Map<OutboxEntry, Timed>, blocked: Map<string, unknown>): Promise<void> {
    for (const entry of entries) {
      if (blocked.has(entry.topic)) continue;
      try {
        await this.send([entry]);
      } catch (error) {
        const refusal = tooLargeForBroker(error);
        if (!refusal) {
          if (!isNonRetriable(error)) throw error;
          blocked.set(entry.topic, error);
          if (writeNotAuthorized(error)) this.writeRefusals.set(entry.topic, { at: Date.now(), error });
          continue;
        }
        const { source, docId } = docOf.get(entry)!;
        await this.parkEntry(source.collection, docId, entry, `refused by the broker as too large (${refusal}): ${entry.topic}'s max.message.bytes is below this record of ${recordBytes(entry)} bytes`, true);
        docOf.delete(entry);
        continue;
      }
      await this.removeSent([entry], docOf);
    }
  }

  /** Removes these sent entries from their documents, collection by collection. */
  private async removeSent(entries: OutboxEntry[], docOf: Map<OutboxEntry, Timed>): Promise<void> {
    for (const [source, sent] of groupBy(entries, (entry) => docOf.get(entry)!.source)) {
      const byDoc = groupBy(sent, (entry) => docOf.get(entry)!.docId);
      await removePublished(source.collection, [...byDoc].map(([_id, outbox]) => ({ _id, outbox })));
    }
    // Published: what is left in docOf at the end of publishTimed is what it held back.
    for (const entry of entries) docOf.delete(entry);
    this.metrics.published.inc(entries.length);
  }

  private async send(entries: OutboxEntry[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const entry of entries) {
      const list = byTopic.get(entry.topic) ?? [];
      list.push({ key: entry.key, value: entry.value, headers: traceHeaders(entry) });
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
  /** Its size as the relay counts it against OUTBOX_MAX_RECORD_BYTES (key, value, trace context and a record's overhead). */
  bytes: number;
  reason: string;
  parkedAt: Date;
  refusedByBroker: boolean;
}

/** An outbox collection, and its `<database>.<collection>` for PendingOutboxes. */
interface Source {
  collection: Collection;
  namespace: string;
}

/** An entry with the time it is published by (timedEntries), its document and its collection. */
interface Timed {
  entry: OutboxEntry;
  at: number;
  docId: unknown;
  source: Source;
}

/**
 * A document to publish: its collection, its id, when its first pending entry was written (or it was noted), its note,
 * and (scanned, not noted) the earliest time of each key among its entries.
 */
interface Planned {
  source: Source;
  id: unknown;
  at: number;
  noted?: NotedId;
  keys?: Map<string, number>;
}

/**
 * For a plan, the earliest time an entry of a key may have in the documents from a position on (the ones not read
 * yet): a scanned document's time for that key, a noted one's time for any key. Built once per drain.
 */
class Horizon {
  /** From each position on: the earliest noted time (documents whose keys are not known). */
  private readonly anyKey: number[];
  /** Per key: the positions of the scanned documents holding it, ascending, and the earliest time from each on. */
  private readonly byKey = new Map<string, { positions: number[]; earliest: number[] }>();

  constructor(plan: Planned[]) {
    this.anyKey = new Array<number>(plan.length + 1).fill(Infinity);
    for (let i = plan.length - 1; i >= 0; i--) this.anyKey[i] = Math.min(this.anyKey[i + 1], plan[i].keys ? Infinity : plan[i].at);
    plan.forEach((item, position) => {
      for (const [key, at] of item.keys ?? []) {
        const of = this.byKey.get(key) ?? { positions: [], earliest: [] };
        this.byKey.set(key, of);
        of.positions.push(position);
        of.earliest.push(at);
      }
    });
    for (const { earliest } of this.byKey.values()) {
      for (let j = earliest.length - 2; j >= 0; j--) earliest[j] = Math.min(earliest[j], earliest[j + 1]);
    }
  }

  earliest(key: string, from: number): number {
    let bound = this.anyKey[Math.min(from, this.anyKey.length - 1)];
    const of = this.byKey.get(key);
    if (of) {
      // The first of the key's positions at or after `from` (binary search).
      let [low, high] = [0, of.positions.length];
      while (low < high) {
        const middle = (low + high) >> 1;
        if (of.positions[middle] < from) low = middle + 1;
        else high = middle;
      }
      if (low < of.earliest.length) bound = Math.min(bound, of.earliest[low]);
    }
    return bound;
  }
}

/** Items grouped by a key, in the order they come (Map keys compare as SameValueZero). */
function groupBy<T, K>(items: T[], keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

const bytesOf = (timed: Timed[]) => timed.reduce((sum, item) => sum + recordBytes(item.entry), 0);

/** An entry's `createdAt` as a time; one missing or unreadable (written by an older version) counts as the oldest. */
function timeOf(createdAt: unknown): number {
  const at = createdAt instanceof Date || typeof createdAt === 'string' || typeof createdAt === 'number' ? +new Date(createdAt) : NaN;
  return Number.isFinite(at) ? at : 0;
}

/**
 * When the oldest of these (sorted by time) was written; `fallback` for entries without a readable time (`at` 0);
 * undefined for none.
 */
function oldestTime(sorted: Array<{ at: number }>, fallback: number): number | undefined {
  if (sorted.length === 0) return undefined;
  if (sorted[0].at > 0) return sorted[0].at;
  return Math.min(fallback, sorted.find((item) => item.at > 0)?.at ?? fallback);
}

/**
 * A document's entries with the time each is published by: its `createdAt`, but never before an entry ahead of it in
 * the array (the order its guarded writes committed them); `createdAt` alone could reverse one document's entries
 * when two writers' clocks disagree.
 */
function timedEntries(source: Source, doc: { _id: unknown; outbox: OutboxEntry[] }): Timed[] {
  let at = 0;
  return doc.outbox.map((entry) => {
    at = Math.max(at, timeOf(entry.createdAt));
    return { entry, at, docId: doc._id, source };
  });
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
 * The bytes an entry takes in a send: key, value, trace context headers, and a record's own overhead (varint lengths,
 * offset and timestamp deltas, attributes; generously), so that an entry counted as fitting OUTBOX_MAX_RECORD_BYTES fits
 * a broker limit of the same value, batch header included.
 */
export function recordBytes(entry: OutboxEntry): number {
  const trace = entry.traceparent ? 'traceparent'.length + entry.traceparent.length + (entry.tracestate ? 'tracestate'.length + Buffer.byteLength(entry.tracestate) : 0) : 0;
  return Buffer.byteLength(entry.key) + Buffer.byteLength(entry.value) + trace + RECORD_OVERHEAD_BYTES;
}

/** The trace context an entry was written in, as the Kafka headers the consumer continues the trace from. */
function traceHeaders(entry: OutboxEntry): Record<string, string> | undefined {
  if (!entry.traceparent) return undefined;
  return entry.tracestate ? { traceparent: entry.traceparent, tracestate: entry.tracestate } : { traceparent: entry.traceparent };
}

const RECORD_OVERHEAD_BYTES = 128;

/**
 * What a drain holds back, kept across its sends so that nothing of a topic or partition held back goes out after it
 * (the order of a key's events): topics the broker refuses for good, and partitions (`topic:partition`) a send could
 * not reach while the others could, each with its failure.
 */
interface HeldBack {
  topics: Map<string, unknown>;
  partitions: Map<string, unknown>;
  /** The partition counts of the topics this drain looked up (once a send failed on some partitions). */
  partitionCounts: Map<string, number>;
  /** When the oldest entry held back was written (the relay's status: the oldest event not published). */
  oldest?: number;
  /** The time of entries written without one (the drain's, or its failures' first). */
  undated: number;
  /** Per collection (namespace), the documents holding entries held back, each with its oldest held entry's time. */
  documents: Map<string, Map<unknown, Planned>>;
}

/** An entry's partition as `topic:partition` (producerPartition), once its topic's partition count is known. */
function partitionOf(entry: OutboxEntry, heldBack: HeldBack): string {
  const count = heldBack.partitionCounts.get(entry.topic);
  return `${entry.topic}:${count === undefined ? '?' : producerPartition(entry.topic, entry.key, count)}`;
}

/** The partition EventProducer sends a key to on a topic of `count` partitions (KafkaJS's default partitioner: murmur2, as Java's). */
export function producerPartition(topic: string, key: string, count: number): number {
  const partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
  return PARTITIONER({ topic, partitionMetadata, message: { key, value: null } });
}

const PARTITIONER = Partitioners.DefaultPartitioner();

/**
 * The end of a drain that held something back: partitions a send could not reach fail it as any send failure (the next
 * drain, after a wait, sends them first); topics the broker refuses for good only (`heldBack`: no wait, no full sweep,
 * said once a minute).
 */
function throwIfHeldBack(heldBack: HeldBack): void {
  if (heldBack.partitions.size) {
    const [, error] = [...heldBack.partitions][0];
    throw Object.assign(
      new Error(`partition(s) ${[...heldBack.partitions.keys()].join(', ')} did not take their events (${describeError(error)}); they wait, in order, and the other partitions' went out`),
      { cause: error },
    );
  }
  if (heldBack.topics.size) {
    const [topic, error] = [...heldBack.topics][0];
    throw Object.assign(new Error(`the broker refused ${[...heldBack.topics.keys()].join(', ')} (${describeError(error)}); their events wait, the other topics' went out`), { cause: error, topic, heldBack: true });
  }
}

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

/** How long a topic the broker refused to create is left before it is asked again. */
const UNCREATABLE_RETRY_MS = 60_000;

/**
 * A failure no retry mends: the broker's non-retriable answer (not authorized, a policy), also as every part of
 * KafkaJS's aggregate of per-topic refusals (topic creation).
 */
function refusedForGood(error: unknown): boolean {
  const parts = (error as { errors?: unknown })?.errors;
  if (Array.isArray(parts) && parts.length) return parts.every((part) => isNonRetriable(part));
  return isNonRetriable(error);
}
