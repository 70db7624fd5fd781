import { Logger } from '@nestjs/common';
import type { Admin } from 'kafkajs';
import { withTimeout } from './topic-admin';

/**
 * The end offset of every partition of `topics` that holds a message, as `topic:partition` -> offset. Not one whose
 * messages retention removed (its earliest offset is its end): nothing there is left to handle, and a group that never
 * read one has committed nothing there, which partitionsBehind would count as behind for good.
 */
export async function endOffsets(admin: Admin, topics: string[]): Promise<Map<string, bigint>> {
  const ends = new Map<string, bigint>();
  for (const topic of topics) {
    for (const { partition, low, high } of await admin.fetchTopicOffsets(topic)) {
      if (BigInt(high) > BigInt(low)) ends.set(`${topic}:${partition}`, BigInt(high));
    }
  }
  return ends;
}

/**
 * The partitions of `ends` that consumer group `groupId` (or the group reading each topic, for a service with consumers
 * of their own: consumerGroupFor) has not committed up to, so has not handled everything before those offsets yet (a
 * group commits an offset only after the message's effect).
 */
export async function partitionsBehind(admin: Admin, groupId: string | ((topic: string) => string), ends: Map<string, bigint>): Promise<string[]> {
  const topics = [...new Set([...ends.keys()].map((key) => key.slice(0, key.lastIndexOf(':'))))];
  if (topics.length === 0) return [];
  const groupOf = typeof groupId === 'string' ? () => groupId : groupId;
  const byGroup = new Map<string, string[]>();
  for (const topic of topics) {
    const group = groupOf(topic);
    byGroup.set(group, [...(byGroup.get(group) ?? []), topic]);
  }
  const committed = new Map<string, bigint>();
  for (const [group, groupTopics] of byGroup) for (const entry of await committedOffsets(admin, group, groupTopics)) committed.set(...entry);
  return [...ends].filter(([key, end]) => (committed.get(key) ?? -1n) < end).map(([key]) => key);
}

/**
 * Per partition of `topic` that still holds a message from before `timestamp` (ms): the offset of its first message at
 * or after that time, or its end offset when none is (as `topic:partition` -> offset). A group committed up to these
 * has handled every message the topic held before `timestamp`, whatever came after. A partition whose messages before
 * that time are all gone (retention) is left out: nothing there is left to handle.
 */
export async function offsetsAt(admin: Admin, topic: string, timestamp: number): Promise<Map<string, bigint>> {
  const [at, bounds] = await Promise.all([admin.fetchTopicOffsetsByTimestamp(topic, timestamp), admin.fetchTopicOffsets(topic)]);
  const low = new Map(bounds.map(({ partition, low }) => [partition, BigInt(low)]));
  const offsets = new Map<string, bigint>();
  for (const { partition, offset } of at) {
    if (BigInt(offset) > (low.get(partition) ?? 0n)) offsets.set(`${topic}:${partition}`, BigInt(offset));
  }
  return offsets;
}

/** The offsets consumer group `groupId` has committed on `topics`, as `topic:partition` -> offset (-1: none). */
export async function committedOffsets(admin: Admin, groupId: string, topics: string[]): Promise<Map<string, bigint>> {
  const committed = new Map<string, bigint>();
  if (topics.length === 0) return committed;
  for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics })) {
    for (const { partition, offset } of partitions) committed.set(`${topic}:${partition}`, BigInt(offset));
  }
  return committed;
}

/** How many messages of `targets` (as offsetsAt gives them) are not yet committed in `committed`, in all. */
export function countBehind(targets: Map<string, bigint>, committed: Map<string, bigint>): bigint {
  let behind = 0n;
  for (const [key, target] of targets) {
    const at = committed.get(key) ?? -1n;
    if (at < target) behind += target - (at < 0n ? 0n : at);
  }
  return behind;
}

/** One partition's lag for /metrics. */
export interface PartitionLag {
  group: string;
  topic: string;
  partition: number;
  lag: number;
}

const LAG_CACHE_MS = 5_000;
const LAG_TIMEOUT_MS = 2_000;

/**
 * Reads from the broker how far a service's consumer groups are behind, for kafka_consumer_group_lag: per partition,
 * its end offset minus the offset the group committed (a group commits only after the effect), or minus the earliest
 * offset still held where the group committed nothing or retention removed what it had not read. It is the committed
 * lag a platform team's Kafka tooling shows, so it also grows while the consumer is stuck or out of its group. One
 * admin connection is kept; an answer serves scrapes for LAG_CACHE_MS; a broker that does not answer within
 * LAG_TIMEOUT_MS gives no figures (the series are absent) rather than holding the scrape.
 */
export class GroupLagReader {
  /** The admin connection, as it is being made: closing it disconnects one still connecting once it has connected. */
  private admin?: Promise<Admin>;
  private last?: { at: number; rows: Promise<PartitionLag[]> };
  private readonly logger = new Logger('ConsumerLag');

  constructor(
    private readonly kafka: { admin(config?: { retry?: { retries: number } }): Admin },
    private readonly groups: () => Array<{ groupId: string; topics: string[] }>,
  ) {}

  read(): Promise<PartitionLag[]> {
    if (this.last && Date.now() - this.last.at < LAG_CACHE_MS) return this.last.rows;
    const rows = withTimeout(this.readNow(), LAG_TIMEOUT_MS).catch((error: unknown) => {
      // The series are absent from this scrape: said why (a group ACL the broker refuses, a broker not answering).
      this.logger.warn(`kafka_consumer_group_lag left out of this scrape: ${error instanceof Error ? error.message : String(error)}`);
      // Not awaited: a connection still being made is disconnected once it is, without holding this scrape.
      void this.close();
      return [];
    });
    this.last = { at: Date.now(), rows };
    return rows;
  }

  /** Disconnects the admin connection, also one still connecting (once it has); the next read makes a new one. */
  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.then((connected) => connected.disconnect()).catch(() => undefined);
  }

  private connected(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin({ retry: { retries: 0 } });
      const connecting = admin.connect().then(() => admin);
      this.admin = connecting;
      // A failed connection is not kept (its client disconnected, what it opened closed): the next read tries again.
      connecting.catch(() => {
        if (this.admin === connecting) this.admin = undefined;
        void admin.disconnect().catch(() => undefined);
      });
    }
    return this.admin;
  }

  private async readNow(): Promise<PartitionLag[]> {
    const groups = this.groups().filter(({ topics }) => topics.length > 0);
    if (groups.length === 0) return [];
    const admin = await this.connected();
    const bounds = new Map<string, { low: bigint; high: bigint }>();
    const topics = [...new Set(groups.flatMap(({ topics }) => topics))];
    for (const [topic, partitions] of await Promise.all(topics.map(async (topic) => [topic, await admin.fetchTopicOffsets(topic)] as const))) {
      for (const { partition, low, high } of partitions) bounds.set(`${topic}:${partition}`, { low: BigInt(low), high: BigInt(high) });
    }
    const rows: PartitionLag[] = [];
    for (const { groupId, topics: groupTopics } of groups) {
      for (const [key, committed] of await committedOffsets(admin, groupId, groupTopics)) {
        const bound = bounds.get(key);
        if (!bound) continue;
        const from = committed > bound.low ? committed : bound.low;
        const split = key.lastIndexOf(':');
        rows.push({ group: groupId, topic: key.slice(0, split), partition: Number(key.slice(split + 1)), lag: Number(bound.high > from ? bound.high - from : 0n) });
      }
    }
    return rows;
  }
}
