import { Inject, Injectable } from '@nestjs/common';
import { Kafka } from 'kafkajs';
import { MESSAGING_OPTIONS, MessagingOptions, resolveOptions } from './options';
import { KAFKA } from './tokens';

/** Creates the topics a service reads or writes if they are missing (a no-op where a platform team made them). */
@Injectable()
export class TopicAdmin {
  private readonly partitions: number;
  private readonly known = new Set<string>();

  constructor(@Inject(KAFKA) private readonly kafka: Kafka, @Inject(MESSAGING_OPTIONS) options: MessagingOptions) {
    this.partitions = resolveOptions(options).topicPartitions;
  }

  async ensureTopics(topics: string[]): Promise<void> {
    const wanted = topics.filter((topic) => !this.known.has(topic));
    if (wanted.length === 0) return;
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = wanted.filter((topic) => !existing.has(topic));
      if (missing.length) {
        await admin
          .createTopics({
            waitForLeaders: true,
            topics: missing.map((topic) => ({ topic, numPartitions: this.partitions })),
          })
          .catch((error: Error) => {
            // Another instance may have created it in between.
            if (!/already exists/i.test(error.message)) throw error;
          });
      }
      wanted.forEach((topic) => this.known.add(topic));
    } finally {
      await admin.disconnect();
    }
  }

  /** A cheap broker round trip, for readiness. */
  async ping(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await admin.describeCluster();
    } finally {
      await admin.disconnect();
    }
  }
}
