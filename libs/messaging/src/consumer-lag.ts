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
 * The partitions of `ends` that consumer group `groupId` has not committed up to, so has not handled everything
 * before those offsets yet (a group commits an offset only after the message's effect).
 */
export async function partitionsBehind(admin: Admin, groupId: string, ends: Map<string, bigint>): Promise<string[]> {
  const topics = [...new Set([...ends.keys()].map((key) => key.slice(0, key.lastIndexOf(':'))))];
  if (topics.length === 0) return [];
  const committed = new Map<string, bigint>();
  for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics })) {
    for (const { partition, offset } of partitions) committed.set(`${topic}:${partition}`, BigInt(offset));
  }
  return [...ends].filter(([key, end]) => (committed.get(key) ?? -1n) < end).map(([key]) => key);
}

/**
 * Per partition of `topic` that held a message by `timestamp` (ms): the offset of its first message at or after that
 * time, or its end offset when none is (as `topic:partition` -> offset, for partitionsBehind). A group committed up to
 * these has handled every message the topic held before `timestamp`, whatever came after.
 */
export async function offsetsAt(admin: Admin, topic: string, timestamp: number): Promise<Map<string, bigint>> {
  const offsets = new Map<string, bigint>();
  for (const { partition, offset } of await admin.fetchTopicOffsetsByTimestamp(topic, timestamp)) {
    if (BigInt(offset) > 0n) offsets.set(`${topic}:${partition}`, BigInt(offset));
  }
  return offsets;
}
