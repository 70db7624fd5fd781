import { Envelope } from '@lib/contracts';
import { startGroupAtEnd, TopicWatch } from '@lib/testing';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';

/** See startGroupAtEnd (@lib/testing). */
export const groupAtEnd = startGroupAtEnd;

/**
 * A TopicWatch that starts at the current end of the topics: what a test publishes from now on, without reading
 * the history a shared broker holds (a benchmark may have left hundreds of thousands of events there).
 */
export async function watchFromNow(topics: string[], brokers = process.env.KAFKA_BROKERS!.split(',')): Promise<{ watch: TopicWatch; close(): Promise<void> }> {
  const groupId = `watch-${randomUUID()}`;
  await groupAtEnd(groupId, topics, brokers);
  const kafka = new Kafka({ clientId: groupId, brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  const watch = new TopicWatch();
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const raw = message.value?.toString() ?? '';
      let envelope: Envelope | undefined;
      try {
        envelope = JSON.parse(raw);
      } catch {
        envelope = undefined;
      }
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
      watch.push({ topic, partition, offset: message.offset, key: message.key?.toString(), headers, raw, envelope });
    },
  });
  await joined;
  return { watch, close: () => consumer.disconnect().catch(() => undefined) };
}
