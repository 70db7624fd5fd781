import type { Admin } from 'kafkajs';

/** The end offset of every partition of `topics` that holds a message, as `topic:partition` -> offset. */
export async function endOffsets(admin: Admin, topics: string[]): Promise<Map<string, bigint>> {
  const ends = new Map<string, bigint>();
  for (const topic of topics) {
    for (const { partition, high } of await admin.fetchTopicOffsets(topic)) {
      if (BigInt(high) > 0n) ends.set(`${topic}:${partition}`, BigInt(high));
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
