import { topicConfig } from '@lib/contracts';
import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { Admin, Kafka } from 'kafkajs';
import { MESSAGING_OPTIONS, MessagingOptions, resolveOptions } from './options';
import { KAFKA } from './tokens';

/** Creates the topics a service reads or writes if they are missing (a no-op where a platform team made them). */
@Injectable()
export class TopicAdmin implements OnModuleDestroy {
  private readonly logger = new Logger(TopicAdmin.name);
  private readonly partitions: number;
  private readonly known = new Set<string>();
  /** Topics being created, each with its creation: a call made meanwhile waits for it. */
  private readonly creating = new Map<string, Promise<void>>();

  constructor(@Inject(KAFKA) private readonly kafka: Kafka, @Inject(MESSAGING_OPTIONS) options: MessagingOptions) {
    this.partitions = resolveOptions(options).topicPartitions;
  }

  /**
   * Creates those of `topics` not known to exist yet. Calls made while a topic is being created wait for that one
   * (many partitions dead-lettering their first message at once open one admin connection, not one each); a failed
   * creation is tried again by the next call.
   */
  async ensureTopics(topics: string[]): Promise<void> {
    const unknown = [...new Set(topics)].filter((topic) => !this.known.has(topic));
    if (unknown.length === 0) return;
    const wanted = unknown.filter((topic) => !this.creating.has(topic));
    const waits = unknown.filter((topic) => this.creating.has(topic)).map((topic) => this.creating.get(topic)!);
    if (wanted.length) {
      const creating = this.create(wanted).finally(() => wanted.forEach((topic) => this.creating.delete(topic)));
      wanted.forEach((topic) => this.creating.set(topic, creating));
      waits.push(creating);
    }
    await Promise.all(waits);
  }

  /**
   * `topics` may not exist any more (a send there failed: an operator may have deleted a dead-letter topic to purge it):
   * the next ensureTopics looks again and creates what is missing. Known for good, a deleted topic failed every send
   * there until the service restarted, a consumer's partition stuck on its next dead letter.
   */
  forget(topics: string[]): void {
    for (const topic of topics) this.known.delete(topic);
  }

  private async create(topics: string[]): Promise<void> {
    const admin = this.kafka.admin();
    try {
      // Inside: a connect that failed past its socket (a hung broker's ApiVersions, a SASL refusal) is disconnected too.
      await admin.connect();
      await createMissingTopics(admin, topics, this.partitions, topicConfig, (refused, error) =>
        this.logger.warn(`Created ${refused.join(', ')} with the cluster's default settings: it refused ${refused.map((topic) => JSON.stringify(topicConfig(topic))).join(', ')} (${error.message}). Set their retention (and an outside system's topic's message.timestamp.type) as README "Deploying" says.`),
      );
      topics.forEach((topic) => this.known.add(topic));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /**
   * A cheap broker round trip, without retries (a readiness probe asks again soon), over one admin connection kept for
   * pings (a connection, and its authentication, per probe and scrape was a few a second on the broker for an idle
   * platform of a few replicas). A ping that fails drops it: the next one connects again.
   */
  async ping(): Promise<void> {
    const connection = (this.pingConnection ??= this.connectForPings());
    try {
      await (await connection).describeCluster();
    } catch (error) {
      this.dropPingConnection(connection);
      throw error;
    }
  }

  private pingConnection?: Promise<Admin>;

  /**
   * How many partitions each of these topics has (the broker's metadata), over the ping connection, within
   * PING_TIMEOUT_MS: the client's connection retries would hold a broker that went away for half a minute.
   */
  async partitionCounts(topics: string[]): Promise<Map<string, number>> {
    const connection = (this.pingConnection ??= this.connectForPings());
    try {
      const { topics: found } = await withTimeout(connection.then((admin) => admin.fetchTopicMetadata({ topics })), PING_TIMEOUT_MS);
      return new Map(found.map((topic) => [topic.name, topic.partitions.length]));
    } catch (error) {
      this.dropPingConnection(connection);
      throw error;
    }
  }

  private async connectForPings(): Promise<Admin> {
    const admin = this.kafka.admin({ retry: { retries: 0 } });
    try {
      await admin.connect();
    } catch (error) {
      await admin.disconnect().catch(() => undefined);
      throw error;
    }
    return admin;
  }

  /** Forgets the ping connection (if it is still the one kept) and closes it once it has connected. */
  private dropPingConnection(connection: Promise<Admin> | undefined = this.pingConnection): void {
    if (!connection) return;
    if (this.pingConnection === connection) this.pingConnection = undefined;
    connection.then((admin) => admin.disconnect()).catch(() => undefined);
  }

  onModuleDestroy(): void {
    this.dropPingConnection();
  }

  /**
   * Whether the broker answered a ping lately, for readiness: KafkaJS tells a producer it is disconnected only when
   * it is told to disconnect, so its state says nothing about a broker that went away. The answer is kept for
   * PING_CACHE_MS (probes of several replicas, or a tight probe period, cost one round trip), and a ping that takes
   * longer than PING_TIMEOUT_MS counts as down.
   */
  async reachable(): Promise<boolean> {
    if (this.lastPing && Date.now() - this.lastPing.at < PING_CACHE_MS) return this.lastPing.result;
    const at = Date.now();
    this.lastPing = {
      at,
      result: withTimeout(this.ping(), PING_TIMEOUT_MS).then(
        () => true,
        () => {
          // Also when it timed out: a connection to a broker that went away may hang rather than fail.
          this.dropPingConnection();
          return false;
        },
      ),
    };
    return this.lastPing.result;
  }

  private lastPing?: { at: number; result: Promise<boolean> };
}

const PING_CACHE_MS = 3_000;
const PING_TIMEOUT_MS = 2_000;

/** `promise`, or a rejection after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const LEADER_WAIT_MS = 30_000;

/** The broker's answer to CreateTopics refusing what was asked (KafkaJS's aggregate of per-topic errors) for a setting. */
const SETTING_REFUSALS = new Set(['POLICY_VIOLATION', 'INVALID_CONFIG']);

function refusesSettings(error: Error): boolean {
  const errors = (error as { errors?: Array<{ type?: string }> }).errors;
  return Array.isArray(errors) && errors.some((e) => SETTING_REFUSALS.has(e?.type ?? ''));
}

/**
 * Creates those of `topics` that do not exist (each with `partitions` and the settings `configOf` gives it, or with the
 * cluster's defaults where it refuses them, told to `onSettingsRefused`; a topic that exists is left as it is), and
 * returns once every partition of every one of them has a leader. A topic another client created a moment ago (listed
 * already, or "already exists" when creating it) may have none yet: a consumer subscribing then fails with "This
 * server does not host this topic-partition".
 */
export async function createMissingTopics(
  admin: Admin,
  topics: string[],
  partitions: number,
  configOf: (topic: string) => Record<string, string> = () => ({}),
  onSettingsRefused: (topics: string[], error: Error) => void = () => undefined,
): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((topic) => !existing.has(topic));
  if (missing.length) {
    const create = (withSettings: boolean) =>
      admin
        .createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({
            topic,
            numPartitions: partitions,
            configEntries: withSettings ? Object.entries(configOf(topic)).map(([name, value]) => ({ name, value })) : [],
          })),
        })
        .catch((error: Error) => {
          // Another instance may have created it in between.
          if (!/already exists/i.test(error.message)) throw error;
        });
    const withSettings = missing.filter((topic) => Object.keys(configOf(topic)).length > 0);
    await create(true).catch(async (error: Error) => {
      // A cluster whose policy refuses a setting (a managed one capping retention): created with its defaults, said.
      if (withSettings.length && refusesSettings(error)) {
        await create(false);
        onSettingsRefused(withSettings, error);
        return;
      }
      // Any other failure may come after the creation (KafkaJS then waits for the leaders, and a broker that does not
      // host a new partition yet fails that): created with the settings, the wait below. Created without them on such
      // an error, a topic kept forever would have had the cluster's retention for good (an existing topic is left as is).
      const now = new Set(await admin.listTopics());
      if (!missing.every((topic) => now.has(topic))) throw error;
    });
  }
  const deadline = Date.now() + LEADER_WAIT_MS;
  for (;;) {
    const leaderless = await admin
      .fetchTopicMetadata({ topics })
      .then(({ topics: found }) => found.filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0)).map((t) => t.name))
      .catch((error: Error) => [error.message]);
    if (leaderless.length === 0) return;
    if (Date.now() > deadline) throw new Error(`topics without a leader after ${LEADER_WAIT_MS} ms: ${leaderless.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
