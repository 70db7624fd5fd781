import { CATALOG, deadLetterTopic, deterministicId, Envelope, EXTERNAL_TOPICS, isUuid, parseEvent, REPLAY_OF_HEADER } from '@lib/contracts';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { BaseRpcContext, CustomTransportStrategy, MessageHandler, Server } from '@nestjs/microservices';
import { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { defaultIfEmpty, isObservable, lastValueFrom } from 'rxjs';
import { ConsumedEvent } from './consumed-event';
import { Trace, TraceContext } from './context';
import { DeadLetterWriter } from './dead-letter-writer';
import { classifyFailure, describeError, namesMissingTopic, ShuttingDownError } from './errors';
import { EventProducer } from './event-producer';
import { GroupLagReader } from './consumer-lag';
import { lagReaders, MessagingMetrics } from './metrics';
import { consumerGroupFor, MESSAGING_OPTIONS, MessagingOptions, resolveOptions } from './options';
import { OutboxRelay } from './outbox-relay';
import { ProcessedEventLedger } from './processed-event-ledger';
import { TopicAdmin } from './topic-admin';
import { KAFKA } from './tokens';
import { Tracing } from './tracing';

const HEARTBEAT_EVERY_MS = 3_000;
const MAX_INFRA_BACKOFF_MS = 5_000;
/** Longest wait before restarting a consumer that crashed for good (doubles from 500 ms while crashes repeat). */
const MAX_RESTART_BACKOFF_MS = 30_000;
/** Looks (a second apart) for a consumer of its own to find its offsets copied while another replica copies them. */
const COPY_ATTEMPTS = 10;
/** Heartbeat errors that mean the group is rebalancing: the partitions of this batch may be someone else's now. */
const REBALANCING = new Set(['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID']);
/** Messages of a partition handled between two offset commits (one ledger read and one ledger write each). */
const CHUNK_SIZE = 200;

/** One Kafka consumer of the service: its group and topics (the service's, or one of `ownConsumers`). */
interface Lane {
  name: string;
  groupId: string;
  topics: string[];
  consumer?: Consumer;
  /** Joined its group (or nothing to consume). */
  running: boolean;
  starting?: Promise<void>;
  restartDelay: number;
  /**
   * A heartbeat's refusal because the group rebalances, until the consumer has joined again: every batch of the lane
   * stops at once and throws it (KafkaJS then rejoins), also those fetched before it, which KafkaJS still hands to its
   * workers before the rejoin: each would otherwise have handled and committed a chunk before its first heartbeat.
   */
  rebalance?: unknown;
}

interface Item {
  message: KafkaMessage;
  envelope?: Envelope;
  malformed?: unknown;
  done: boolean;
}

/** The correlation (and event) id a message that breaks the contract names, where they are UUIDs. */
export function claimedTrace(value: Buffer | null): TraceContext | undefined {
  let named: { correlationId?: unknown; eventId?: unknown } | undefined;
  try {
    named = JSON.parse(value?.toString('utf8') ?? 'null');
  } catch {
    return undefined;
  }
  if (!named || typeof named !== 'object' || !isUuid(named.correlationId)) return undefined;
  return { correlationId: named.correlationId, ...(isUuid(named.eventId) && { causationId: named.eventId }) };
}

/** The key an outside system's topic is keyed by (CATALOG), checked on each message (KafkaEventServer.checkKey). */
const EXTERNAL_KEYS: Record<string, string> = Object.fromEntries(EXTERNAL_TOPICS.map((topic) => [topic, CATALOG[topic].key]));

/**
 * The Kafka consumers of a service, as a Nest transport (one, and one more per entry of `ownConsumers`): handlers are
 * `@EventPattern('<topic>')` methods that receive a ConsumedEvent. Messages come in batches per partition, taken in
 * chunks: the ledger is read once for a chunk and written once after it, then the chunk's offsets are committed.
 * Within a chunk, messages of one key are handled one after the other in partition order, and up to
 * `keysConsumedConcurrently` keys at the same time (Kafka orders only the messages of one key). For each message:
 *  - malformed (not an envelope, or a known type whose payload breaks the contract) goes to `<topic>.dlq`;
 *  - an unknown type is skipped (forward compatibility);
 *  - an event already in the ledger is skipped (redelivery, replay);
 *  - the handler runs with heartbeats; transient failures are retried with backoff up to `maxAttempts`, then
 *    dead-lettered; infrastructure failures (database or broker down) are retried until they recover;
 *  - the offset is committed only after the handler's effect (and the ledger entry) is durable.
 * On close: stop fetching, let in-flight messages finish, flush the outbox, then disconnect.
 * A consumer of its own (`ownConsumers`) whose group has no offsets yet starts where the service's group had got to on
 * its topics (the release that moves a topic to its own consumer does not replay it), else as any new group.
 */
@Injectable()
export class KafkaEventServer extends Server implements CustomTransportStrategy {
  protected override readonly logger = new Logger(KafkaEventServer.name);
  private readonly options: Required<MessagingOptions>;
  private closing = false;
  /** stopConsuming's one run. */
  private stopped?: Promise<void>;
  /** The service's consumer first, then its own consumers; set by listen(). */
  private lanes: Lane[] = [];
  private readonly laneOfTopic = new Map<string, Lane>();
  private readonly deadLetters: DeadLetterWriter;
  /**
   * The handler of each topic, looked up once: Nest's lookup parses the pattern as JSON first, so a topic name
   * cost a thrown and caught SyntaxError on every message.
   */
  private readonly handlers = new Map<string, MessageHandler | null>();
  /** kafka_consumer_group_lag of this service's groups. */
  private readonly lag: GroupLagReader;
  /** When a message keyed otherwise than its topic's contract was last said, per topic (checkKey). */
  private readonly keyWarnedAt = new Map<string, number>();
  /** When a message of a type the contract does not know was last said, per topic (sayUnknownType). */
  private readonly unknownTypeSaidAt = new Map<string, number>();
  /** When a correlation id replaced for not being a UUID was last said, per topic (withDerivedCorrelation). */
  private readonly derivedCorrelationSaidAt = new Map<string, number>();

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(MESSAGING_OPTIONS) options: MessagingOptions,
    private readonly producer: EventProducer,
    private readonly ledger: ProcessedEventLedger,
    private readonly relay: OutboxRelay,
    private readonly admin: TopicAdmin,
    private readonly metrics: MessagingMetrics,
  ) {
    super();
    this.options = resolveOptions(options);
    this.lag = new GroupLagReader(kafka, () => this.lanes.map(({ groupId, topics }) => ({ groupId, topics })));
    this.deadLetters = new DeadLetterWriter(producer, metrics, this.logger);
  }

  /** True once every consumer has joined its group (or when there is nothing to consume). */
  get isRunning(): boolean {
    return this.lanes.length > 0 && this.lanes.every((lane) => lane.running);
  }

  get topics(): string[] {
    return [...this.messageHandlers.keys()];
  }

  /**
   * Returns at once and connects in the background, retrying until the broker answers: the HTTP side serves
   * liveness meanwhile, and readiness says down until the consumer has joined its group.
   */
  listen(callback: (error?: unknown) => void): void {
    try {
      this.lanes = this.planLanes();
    } catch (error) {
      callback(error);
      return;
    }
    callback();
    lagReaders.add(this.lag);
    for (const lane of this.lanes) lane.starting = this.startWithRetry(lane);
  }

  /**
   * Whether the consumer that reads `topic` has joined its group: a handler that waits for another topic's events to
   * be handled (notification: the identity events its recipients need) knows there is no point while that one is down.
   */
  isConsuming(topic: string): boolean {
    return this.laneOfTopic.get(topic)?.running ?? false;
  }

  /** The service's consumer (every topic not named in `ownConsumers`, maybe none), then one per own consumer with topics. */
  private planLanes(): Lane[] {
    const topics = this.topics;
    // Nest runs two handlers of one topic at once (forkJoin): one failing, the retry runs both again while the other is
    // still running, and the offset may be committed, or the event dead-lettered, before that one ends. One per topic.
    const shared = topics.filter((topic) => this.messageHandlers.get(topic)?.next);
    if (shared.length) throw new Error(`${shared.join(', ')}: more than one @EventPattern handler; give each topic one handler that calls the others in turn`);
    const named = Object.entries(this.options.ownConsumers);
    const seen = new Set<string>();
    for (const [name, list] of named) {
      // The name ends up in a consumer group id; a topic in two of them would be handled twice, in two groups.
      if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`ownConsumers: "${name}" is not a consumer name (lowercase letters, digits and -)`);
      for (const topic of list) {
        if (seen.has(topic)) throw new Error(`ownConsumers: ${topic} is named for more than one consumer`);
        seen.add(topic);
      }
    }
    const own = named.map(([name, list]) => ({ name, topics: topics.filter((topic) => list.includes(topic)) }));
    const elsewhere = new Set(own.flatMap((lane) => lane.topics));
    const lanes: Lane[] = [
      { name: '', topics: topics.filter((topic) => !elsewhere.has(topic)) },
      ...own.filter((lane) => lane.topics.length),
    ].map(({ name, topics: laneTopics }) => ({
      name,
      topics: laneTopics,
      groupId: laneTopics.length ? consumerGroupFor(this.options, laneTopics[0]) : this.options.groupId,
      running: false,
      restartDelay: 500,
    }));
    for (const lane of lanes) for (const topic of lane.topics) this.laneOfTopic.set(topic, lane);
    return lanes;
  }

  /** The consumer group that reads `topic` (dead letters name it). */
  private groupOf(topic: string): string {
    return this.laneOfTopic.get(topic)?.groupId ?? this.options.groupId;
  }

  /**
   * The ledger groups an event of `topic` may have been recorded under: the service's group id, which every consumer
   * of the service records under (a topic moved to or from a consumer of its own, during a rolling release or with its
   * offsets not copied, finds what the other applied), and the group of its own consumer, which releases before that
   * recorded under.
   */
  private ledgerGroupsOf(topic: string): string[] {
    const group = this.groupOf(topic);
    return group === this.options.groupId ? [group] : [this.options.groupId, group];
  }

  private async startWithRetry(lane: Lane): Promise<void> {
    let delay = 500;
    while (!this.closing) {
      try {
        await this.start(lane);
        return;
      } catch (error) {
        this.logger.warn(`cannot start consuming${lane.name && ` (${lane.groupId})`} yet (${describeError(error)}); retrying in ${delay} ms`);
        await lane.consumer?.disconnect().catch(() => undefined);
        lane.consumer = undefined;
        await sleep(delay);
        delay = Math.min(delay * 2, MAX_INFRA_BACKOFF_MS);
      }
    }
  }

  private async start(lane: Lane): Promise<void> {
    await this.producer.connect();
    const { topics } = lane;
    if (topics.length === 0) {
      lane.running = true;
      return;
    }
    await this.admin.ensureTopics(topics.flatMap((topic) => [topic, deadLetterTopic(topic)]));
    if (lane.name) await this.startWhereTheServiceWas(lane);
    // close() waits a few seconds for starts, not longer: one still on its way then starts no consumer.
    if (this.closing) return;
    const consumer = this.kafka.consumer({
      groupId: lane.groupId,
      sessionTimeout: 30_000,
      heartbeatInterval: HEARTBEAT_EVERY_MS,
      allowAutoTopicCreation: false,
    });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      lane.running = true;
      lane.rebalance = undefined;
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      lane.running = false;
      this.logger.error(`consumer${lane.name && ` ${lane.groupId}`} crashed: ${payload.error}; restart=${payload.restart}`);
      // A topic of the lane gone (deleted to purge it, a broker back with no data): KafkaJS's own restart would subscribe
      // to it again and crash again, every few hundred ms, for good, the whole lane stopped (and not ready). Restarted
      // here instead, through start(), which creates it again (forgotten as known); KafkaJS's own restart, where it set
      // one, is cleared.
      if (!this.closing && lane.consumer === consumer && namesMissingTopic(payload.error)) {
        this.admin.forget(topics.flatMap((topic) => [topic, deadLetterTopic(topic)]));
        if (payload.restart) setImmediate(() => void consumer.disconnect().catch(() => undefined));
        this.restartAfterCrash(lane);
        return;
      }
      // KafkaJS restarts by itself only after a retriable error; after any other it has disconnected for good.
      if (!payload.restart && !this.closing && lane.consumer === consumer) this.restartAfterCrash(lane);
      // Closing (close() stopped waiting for this start and disconnected it under its join): KafkaJS would restart it
      // after a retriable error all the same, and it would consume while the outbox flushes. Disconnected again once
      // KafkaJS has set its restart timer (right after this event), which clears it.
      if (payload.restart && this.closing) setImmediate(() => void consumer.disconnect().catch(() => undefined));
    });
    consumer.on(consumer.events.STOP, () => (lane.running = false));
    lane.consumer = consumer;
    await consumer.connect();
    if (this.closing) {
      await consumer.disconnect().catch(() => undefined);
      return;
    }
    await consumer.subscribe({ topics, fromBeginning: this.options.fromBeginning });
    if (this.closing) {
      await consumer.disconnect().catch(() => undefined);
      return;
    }
    await consumer.run({
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently,
      eachBatchAutoResolve: false,
      // A fetch holding nothing to hand over (an aborted transaction, a transaction marker fetched alone): KafkaJS
      // resolves past it and commits only "if necessary". Without a threshold it never was, and the group stayed behind
      // there (lag, the rollover's catch-up wait) until another message came. Offsets are resolved only once handled,
      // so committing every resolved one is safe.
      autoCommitThreshold: 1,
      eachBatch: (payload) => this.handleBatch(payload),
    });
  }

  /**
   * An own consumer's group starts where the service's group had got to on its topics, partition by partition where it
   * has no offset of its own yet: the release that gives a topic its own consumer goes on from there (no replay of the
   * whole topic, no gap), and a service group positioned by an operator (or a test) positions this one too. Offsets
   * the group has are kept. KafkaJS copies them by joining the group for a moment, which is refused while the group
   * has members (another replica copying, or its consumer of this lane running): this one looks again a second later,
   * and after COPY_ATTEMPTS starts anyway (a partition still without an offset is then read from the beginning: handled
   * again, which the ledger and idempotent handlers make harmless).
   */
  private async startWhereTheServiceWas(lane: Lane): Promise<void> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      for (let attempt = 1; ; attempt++) {
        const copies = await this.offsetsToCopy(admin, lane);
        if (copies.length === 0 || this.closing) return;
        if (attempt > COPY_ATTEMPTS) {
          const topics = copies.map((c) => c.topic).join(', ');
          this.logger.warn(`${lane.groupId}: could not take ${this.options.groupId}'s offsets of ${topics}; starting without`);
          return;
        }
        try {
          for (const { topic, partitions } of copies) {
            await admin.setOffsets({ groupId: lane.groupId, topic, partitions });
            this.logger.log(`${lane.groupId} starts ${topic} where ${this.options.groupId} had got to (${partitions.length} partitions)`);
          }
        } catch (error) {
          const { message = '', type = '' } = error as Error & { type?: string };
          if (!/no running instances|not empty|NON_EMPTY_GROUP/i.test(`${message} ${type}`)) throw error;
          await sleep(1_000);
        }
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** Per topic of the lane, the partitions its group has no offset for and the service's group has one: to copy. */
  private async offsetsToCopy(admin: Admin, lane: Lane): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>> {
    const [own, service] = await Promise.all([
      admin.fetchOffsets({ groupId: lane.groupId, topics: lane.topics }),
      admin.fetchOffsets({ groupId: this.options.groupId, topics: lane.topics }),
    ]);
    const has = new Set(
      own.flatMap(({ topic, partitions }) => partitions.filter(({ offset }) => Number(offset) >= 0).map(({ partition }) => `${topic}:${partition}`)),
    );
    return service
      .map(({ topic, partitions }) => ({
        topic,
        partitions: partitions
          .filter(({ partition, offset }) => Number(offset) >= 0 && !has.has(`${topic}:${partition}`))
          .map(({ partition, offset }) => ({ partition, offset })),
      }))
      .filter(({ partitions }) => partitions.length > 0);
  }

  private restartAfterCrash(lane: Lane): void {
    lane.consumer = undefined;
    const delay = lane.restartDelay;
    lane.restartDelay = Math.min(delay * 2, MAX_RESTART_BACKOFF_MS);
    this.logger.warn(`restarting the consumer${lane.name && ` ${lane.groupId}`} in ${delay} ms`);
    lane.starting = sleep(delay).then(() => this.startWithRetry(lane));
  }

  /**
   * The first step of a graceful shutdown (SPEC 5): no more messages are taken; those in flight finish and their
   * offsets are committed (disconnect waits for them). The producer and the outbox relay keep going, for the drains
   * and the outbox flush that follow. Once only, whoever asks first (the platform's close, then Nest's).
   */
  stopConsuming(): Promise<void> {
    this.stopped ??= this.disconnectConsumers();
    return this.stopped;
  }

  private async disconnectConsumers(): Promise<void> {
    this.closing = true;
    lagReaders.delete(this.lag);
    await this.lag.close();
    await Promise.race([Promise.all(this.lanes.map((lane) => lane.starting)), sleep(5_000)]);
    // disconnect() waits for the messages in flight and commits their offsets.
    await Promise.all(
      this.lanes.map(async (lane) => {
        await lane.consumer?.disconnect().catch((error) => this.logger.warn(`consumer disconnect: ${error}`));
        lane.running = false;
      }),
    );
  }

  async close(): Promise<void> {
    await this.stopConsuming();
    await this.relay.stop();
    await this.producer.disconnect();
  }

  private async handleBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, uncommittedOffsets, isRunning, isStale }: EachBatchPayload): Promise<void> {
    // A heartbeat refused because the group is rebalancing: this partition may be assigned elsewhere already, so
    // the batch stops at the next message, as on shutdown, and throws that refusal, on which KafkaJS rejoins the group
    // (returning, it went on with the batches fetched before, each a chunk long). Kept for the lane: the batches of its
    // other partitions stop too.
    const lane = this.laneOfTopic.get(batch.topic);
    const group: { rebalance?: unknown } = lane ?? {};
    const beat = async (): Promise<void> => {
      try {
        await heartbeat();
      } catch (error) {
        if (REBALANCING.has((error as { type?: string })?.type ?? '')) group.rebalance ??= error;
        throw error;
      }
    };
    const stopping = () => this.closing || group.rebalance !== undefined;
    // Leaving a batch stopped: on a rebalance (not a shutdown), with the heartbeat's refusal.
    const stopped = () => {
      if (!this.closing && group.rebalance !== undefined) throw group.rebalance;
    };
    // What handlers call: a heartbeat that failed otherwise (the coordinator moving during a broker restart) is no fault
    // of the event: thrown, it was retried as the handler's failure and dead-lettered once the attempts ran out. The
    // pacemaker goes on beating; a rebalance still stops the handler (stopping()).
    const handlerBeat = () =>
      beat().catch((error) => {
        if (group.rebalance !== undefined) throw error;
      });
    const pacemaker = setInterval(() => beat().catch(() => undefined), HEARTBEAT_EVERY_MS);
    try {
      for (let i = 0; i < batch.messages.length; i += CHUNK_SIZE) {
        if (stopping()) return stopped();
        if (!isRunning() || isStale()) return;
        const chunk = batch.messages.slice(i, i + CHUNK_SIZE);
        let handled: Awaited<ReturnType<KafkaEventServer['handleChunk']>>;
        try {
          handled = await this.handleChunk(batch.topic, batch.partition, chunk, handlerBeat, stopping);
        } catch (error) {
          // The ledger unreachable while the group rebalanced (withInfraRetry gave up): nothing of the chunk committed, the
          // partition's next owner reads it again.
          if (stopping()) return stopped();
          throw error;
        }
        const { lastDone, error } = handled;
        if (lastDone !== undefined) resolveOffset(lastDone);
        // Committed now, chunk by chunk, as offsets given: KafkaJS commits what eachBatch resolved only once the whole
        // batch has returned (a crash then redelivered every chunk of it, and dead-lettered again what the ledger does
        // not hold).
        await commitOffsetsIfNecessary(uncommittedOffsets());
        if (error) throw error;
        // A batch done without a crash: the next crash restarts quickly again.
        if (lane) lane.restartDelay = 500;
        if (lastDone !== chunk[chunk.length - 1].offset) return stopped(); // stopped (shutdown, rebalance): the rest is redelivered
        await beat().catch(() => undefined);
      }
    } finally {
      clearInterval(pacemaker);
    }
  }

  /**
   * Handles a chunk of one partition and records the applied events in the ledger. Returns the offset up to
   * which every message is done (to commit), and an error to surface to the consumer (the rest is redelivered).
   */
  private async handleChunk(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    heartbeat: () => Promise<void>,
    stopping: () => boolean = () => this.closing,
  ): Promise<{ lastDone?: string; error?: unknown }> {
    const items: Item[] = messages.map((message) => {
      try {
        // Judged against when the message was written (its record's timestamp), as on any later reading of it.
        const parsed = parseEvent(topic, message.value, recordTime(message));
        if (!parsed.known) {
          this.metrics.consumed.inc({ topic, outcome: 'skipped_unknown_type' });
          this.sayUnknownType(topic, parsed.envelope);
          return { message, done: true };
        }
        // What this event causes carries its correlation id, when it is one: an outside system's empty or made-up value
        // (the envelope asks for a UUID) is replaced for the handlers, rather than spread into every event and message
        // that follows, by a UUID derived from the event's id (nonUuidCorrelation): every consumer, and every redelivery,
        // gives the event's effects the same one.
        const envelope = isUuid(parsed.envelope.correlationId) ? parsed.envelope : this.withDerivedCorrelation(topic, parsed.envelope);
        this.checkKey(topic, message, envelope);
        return { message, envelope, done: false };
      } catch (error) {
        return { message, malformed: error, done: false };
      }
    });
    const eventIds = [...new Set(items.flatMap((item) => (item.envelope ? [item.envelope.eventId] : [])))];
    const applied = await this.withInfraRetry(() => this.ledger.processed(this.ledgerGroupsOf(topic), eventIds), stopping);
    const byKey = new Map<string, Item[]>();
    for (const item of items) {
      if (item.done) continue;
      const key = item.message.key?.toString() ?? '';
      const list = byKey.get(key) ?? [];
      list.push(item);
      byKey.set(key, list);
    }
    const recorded: Array<{ eventId: string; topic: string; partition: number; offset: string }> = [];
    const groups = [...byKey.values()];
    let next = 0;
    let failure: unknown;
    const worker = async () => {
      // Once shutting down (or rebalancing), only the messages already in a handler finish; nothing new starts.
      while (next < groups.length && failure === undefined && !stopping()) {
        const group = groups[next++];
        for (const item of group) {
          if (stopping()) break;
          try {
            await this.handleItem(topic, partition, item, applied, recorded, heartbeat, stopping);
            item.done = true;
          } catch (error) {
            failure ??= error;
            break;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.keysConsumedConcurrently, groups.length) }, worker));
    if (recorded.length) {
      await this.withInfraRetry(() => this.ledger.recordMany(this.options.groupId, recorded), stopping);
      for (const _ of recorded) this.metrics.consumed.inc({ topic, outcome: 'processed' });
    }
    let lastDone: string | undefined;
    for (const item of items) {
      if (!item.done) break;
      lastDone = item.message.offset;
    }
    // Shutting down is not an error: what is not done stays uncommitted and is redelivered after restart.
    return { lastDone, error: stopping() ? undefined : failure };
  }

  private async handleItem(
    topic: string,
    partition: number,
    item: Item,
    applied: Set<string>,
    recorded: Array<{ eventId: string; topic: string; partition: number; offset: string }>,
    heartbeat: () => Promise<void>,
    stopping: () => boolean,
  ): Promise<void> {
    const { message } = item;
    const origin = { topic, partition, offset: message.offset };
    const timer = this.metrics.handlerSeconds.startTimer({ topic });
    const key = message.key?.toString();
    try {
      await Tracing.consume(topic, partition, message, item.envelope, async (span) => {
        if (!item.envelope) {
          Tracing.failed(span, item.malformed);
          // In the trace the message claims, where it names one: its producer finds the dead-letter line by it.
          const claimed = claimedTrace(message.value);
          const deadLetter = () => this.deadLetters.write(origin, this.groupOf(topic), message.key, message.value, message.headers, item.malformed, 1);
          await (claimed ? Trace.run(claimed, deadLetter) : deadLetter());
          return;
        }
        const { envelope } = item;
        if (applied.has(envelope.eventId)) {
          this.metrics.consumed.inc({ topic, outcome: 'duplicate' });
          return;
        }
        // Long work calls it between its pages: once the consumer stops (shutdown, a rebalance) it ends there, its
        // message uncommitted and handled again after the restart (ConsumedEvent.heartbeat), instead of holding the
        // shutdown past its timeout.
        const beat = async () => {
          if (stopping()) throw new ShuttingDownError(`stopping: ${envelope.type} handled again after the restart or rebalance`);
          await heartbeat();
        };
        const keyedBy = (expected: string) => this.reportKey(topic, key, expected, envelope);
        const position = { partition, offset: replayedFrom(message.headers?.[REPLAY_OF_HEADER], partition, message.offset) ?? message.offset };
        const event: ConsumedEvent = { envelope, topic, partition, offset: message.offset, position, key, heartbeat: beat, stopping, keyedBy };
        const outcome = await this.runHandler(topic, event, stopping);
        if (outcome.ok) {
          // A second copy of the event later in this chunk is a duplicate too.
          applied.add(envelope.eventId);
          recorded.push({ eventId: envelope.eventId, ...origin });
        } else {
          Tracing.failed(span, outcome.error);
          // In the event's trace, as its handler's lines: the dead-letter line carries its correlation id too.
          await Trace.run({ correlationId: envelope.correlationId, causationId: envelope.eventId }, () =>
            this.deadLetters.write(origin, this.groupOf(topic), message.key, message.value, message.headers, outcome.error, outcome.attempts),
          );
          // Recorded in the service's database too, after the dead letter is out (what a fiscal-year rollover checks
          // before it decides: ProcessedEventLedger.unapplied). A failure to record it fails the chunk: redelivered,
          // the message is dead-lettered and recorded again (a duplicate dead letter, not a lost record).
          await this.withInfraRetry(
            () =>
              this.ledger.recordDeadLetter(this.options.groupId, {
                eventId: envelope.eventId,
                type: envelope.type,
                ...origin,
                error: describeError(outcome.error).slice(0, 1_000),
                permanent: classifyFailure(outcome.error) === 'permanent',
              }),
            stopping,
          );
        }
      });
    } finally {
      timer();
    }
  }

  private async runHandler(
    topic: string,
    event: ConsumedEvent,
    stopping: () => boolean,
  ): Promise<{ ok: true } | { ok: false; error: unknown; attempts: number }> {
    const handler = this.handlerOf(topic);
    if (!handler) return { ok: true };
    const trace = { correlationId: event.envelope.correlationId, causationId: event.envelope.eventId };
    let attempts = 0;
    // Only transient failures count towards maxAttempts: retries while the database or broker is down do not (a good
    // message that failed once more after an outage was dead-lettered at once, its attempts used up waiting).
    let transientFailures = 0;
    let delay = this.options.retryBackoffMs;
    for (;;) {
      attempts += 1;
      try {
        await Trace.run(trace, async () => {
          const result: unknown = await handler(event, new BaseRpcContext([topic, event.partition, event.offset]));
          // An observable (a handler or interceptor returning one) is awaited to its end; anything else is done.
          if (isObservable(result)) await lastValueFrom(result.pipe(defaultIfEmpty(undefined)));
        });
        return { ok: true };
      } catch (error) {
        const kind = classifyFailure(error);
        if (kind === 'permanent') return { ok: false, error, attempts };
        if (stopping()) throw error; // leave the offset uncommitted: redelivered after restart or rebalance
        if (kind === 'transient' && ++transientFailures >= this.options.maxAttempts) return { ok: false, error, attempts };
        // In the event's trace (its correlation id on the line), as the handler's own lines.
        Trace.run(trace, () =>
          this.logger.warn(
            `${topic}[${event.partition}]@${event.offset} ${event.envelope.type} ${event.envelope.eventId} attempt ${attempts} failed ` +
              `(${kind}): ${describeError(error)}`,
          ),
        );
        await sleep(delay);
        delay = Math.min(delay * 2, MAX_INFRA_BACKOFF_MS);
      }
    }
  }

  private handlerOf(topic: string): MessageHandler | null {
    let handler = this.handlers.get(topic);
    if (handler === undefined) this.handlers.set(topic, (handler = this.getHandlerByPattern(topic)));
    return handler;
  }

  /**
   * Infrastructure calls of the consumer itself (ledger) are retried until they succeed, we shut down, or (`stop`) the
   * group rebalances: the partition may be another member's already, and this member must rejoin, not hold its batch
   * for as long as the database is down.
   */
  private async withInfraRetry<T>(fn: () => Promise<T>, stop: () => boolean = () => false): Promise<T> {
    let delay = this.options.retryBackoffMs;
    for (;;) {
      try {
        return await fn();
      } catch (error) {
        if (this.closing || stop()) throw error;
        this.logger.warn(`retrying after ${describeError(error)}`);
        await sleep(delay);
        delay = Math.min(delay * 2, MAX_INFRA_BACKOFF_MS);
      }
    }
  }

  /**
   * An outside system's message keyed otherwise than its topic's contract says (the locationId of an eligibility
   * decision, the partnerId of an agreement or a validation result): applied all the same, but two events of one
   * location on two partitions are applied in the order they arrive, which may not be the order they were sent. Counted
   * (kafka_messages_keyed_otherwise_total) and said once a minute per topic, for the platform team to take up with its
   * publisher. The platform's own topics are keyed by their producers, which the contract tests.
   */
  private checkKey(topic: string, message: KafkaMessage, envelope: Envelope): void {
    const field = EXTERNAL_KEYS[topic];
    if (!field) return;
    const expected = (envelope.data as Record<string, unknown> | undefined)?.[field] ?? envelope[field as keyof Envelope];
    // Not in the message (a validation result without the envelope's partnerId, or an empty one): the handler tells it
    // (keyedBy).
    if (typeof expected === 'string' && expected !== '') this.reportKey(topic, message.key?.toString(), expected, envelope);
  }

  /** The envelope with the correlation id its effects carry in place of one that is not a UUID (said once a minute per topic). */
  private withDerivedCorrelation(topic: string, envelope: Envelope): Envelope {
    const correlationId = nonUuidCorrelation(envelope);
    if (onceAMinute(this.derivedCorrelationSaidAt, topic)) {
      const sent = JSON.stringify(String(envelope.correlationId ?? '').slice(0, 100));
      this.logger.warn(`${topic}: ${envelope.eventId} has correlationId ${sent}, not a UUID: what it causes carries ${correlationId}, derived from its eventId (said once a minute)`);
    }
    return { ...envelope, correlationId };
  }

  /**
   * Says (once a minute per topic) that a message of a type the contract does not know was skipped: forward
   * compatibility (SPEC 3), but also how a publisher's misspelt type would lose every event it sends, with only a
   * counter to tell (kafka_messages_consumed_total, outcome skipped_unknown_type; alerted on for outside systems).
   */
  private sayUnknownType(topic: string, envelope: Envelope): void {
    if (!onceAMinute(this.unknownTypeSaidAt, topic)) return;
    const type = JSON.stringify(String(envelope.type).slice(0, 100));
    this.logger.warn(`${topic}: ${envelope.eventId} of type ${type}, which this release does not know, skipped (counted as skipped_unknown_type; said once a minute)`);
  }

  /** Counts and says (once a minute per topic) a message of an outside system's topic not keyed by `expected`. */
  private reportKey(topic: string, key: string | undefined, expected: string, envelope: Envelope): void {
    const field = EXTERNAL_KEYS[topic];
    if (!field || key === expected) return;
    this.metrics.keyedOtherwise.inc({ topic });
    if (!onceAMinute(this.keyWarnedAt, topic)) return;
    this.logger.warn(
      `${topic}: ${envelope.type} ${envelope.eventId} keyed ${key === undefined ? 'without a key' : 'otherwise'} than by its ${field} (the topic's contract): ` +
        `events of one ${field} on two partitions are applied in the order they arrive (kafka_messages_keyed_otherwise_total counts them; said once a minute)`,
    );
  }

}

/** KafkaJS's record batch timestamp type (its `protocol/timestampTypes`): the broker's clock stamped the batch. */
const LOG_APPEND_TIME = 1;

/**
 * When a message was written to Kafka, as far as this reader can vouch for it: its record's timestamp where the broker
 * stamped it (a topic with `message.timestamp.type=LogAppendTime`, as this platform creates the outside systems'
 * topics), never later than the reader's clock; else the reader's clock. A producer's own timestamp (CreateTime) says
 * nothing of when it wrote: a Kafka Streams app's output inherits its input's (hours earlier), a producer may set an
 * effective date, its clock may be ahead.
 */
export function recordTime(message: Pick<KafkaMessage, 'timestamp'> & { batchContext?: { timestampType?: number } }, now = Date.now()): number {
  if (message.batchContext?.timestampType !== LOG_APPEND_TIME) return now;
  const at = Number(message.timestamp);
  return Number.isFinite(at) && at > 0 ? Math.min(at, now) : now;
}

/** Whether a warning about `topic` is due (none said in the last minute); if so, now is when it was said. */
function onceAMinute(saidAt: Map<string, number>, topic: string): boolean {
  const now = Date.now();
  if (now - (saidAt.get(topic) ?? 0) < 60_000) return false;
  saidAt.set(topic, now);
  return true;
}

/**
 * The correlation id the effects of an event carry when the one it came with is not a UUID: derived from the event's id,
 * so the same in every consumer and on every redelivery. Not from the value sent: an outside system that sends one
 * placeholder ("N/A") with every event would join all its events into one chain.
 */
export function nonUuidCorrelation(envelope: Pick<Envelope, 'eventId'>): string {
  return deterministicId('correlation', envelope.eventId);
}

/**
 * The original's offset a copy published again names (REPLAY_OF_HEADER: `<partition>:<offset>`), when it is of this
 * partition and before the copy's own; undefined otherwise (a header of another partition, malformed, or naming a later
 * offset: a copy can only be older than where it stands, never newer).
 */
export function replayedFrom(header: Buffer | string | (Buffer | string)[] | undefined, partition: number, offset: string): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = /^(\d+):(\d+)$/.exec(value?.toString() ?? '');
  if (!match || Number(match[1]) !== partition || BigInt(match[2]) >= BigInt(offset)) return undefined;
  return match[2];
}
