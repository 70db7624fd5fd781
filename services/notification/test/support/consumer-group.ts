import { Kafka, logLevel } from 'kafkajs';

/**
 * Commits the end of each topic for a consumer group that does not run yet, so the service under test starts
 * from now instead of replaying everything earlier runs left on a shared broker (in production it reads from
 * the beginning, to build its recipient view). Tests create every user they need after the service starts.
 *
 * One short-lived member joins the group and commits the high watermarks of every partition (admin.resetOffsets
 * would commit the "-1 = latest" marker, which a consumer reading from the beginning resolves to the earliest).
 */
export async function startGroupAtEnd(groupId: string, topics: string[]): Promise<void> {
  const kafka = new Kafka({ clientId: `reset-${groupId}`, brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  let ends: Array<{ topic: string; partition: number; offset: string }>;
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length) {
      await admin
        .createTopics({ waitForLeaders: true, topics: missing.map((topic) => ({ topic, numPartitions: 6 })) })
        .catch((error: Error) => {
          if (!/already exists/i.test(error.message)) throw error;
        });
    }
    ends = (
      await Promise.all(
        topics.map(async (topic) => (await admin.fetchTopicOffsets(topic)).map(({ partition, high }) => ({ topic, partition, offset: high }))),
      )
    ).flat();
  } finally {
    await admin.disconnect();
  }

  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  try {
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.subscribe({ topics, fromBeginning: false });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => undefined });
    await joined;
    await consumer.commitOffsets(ends);
  } finally {
    await consumer.disconnect();
  }
}
