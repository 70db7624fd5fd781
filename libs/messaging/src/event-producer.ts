import { Inject, Injectable, Logger } from '@nestjs/common';
import { Kafka, Message, Partitioners, Producer, TopicMessages } from 'kafkajs';
import { KAFKA } from './tokens';
import { TopicAdmin } from './topic-admin';

/**
 * An idempotent producer that waits for every in-sync replica (acks=all) before it answers. It creates a topic it
 * has not written to yet, when missing, before its first send there (TopicAdmin, with the service's partition
 * count): it never relies on the broker creating topics on first use, which managed clusters turn off and which
 * would give the topic the broker's partition count.
 */
@Injectable()
export class EventProducer {
  private readonly logger = new Logger(EventProducer.name);
  private producer?: Producer;
  private connecting?: Promise<Producer>;
  private connected = false;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    private readonly topics: TopicAdmin,
  ) {}

  get isConnected(): boolean {
    return this.connected;
  }

  async connect(): Promise<Producer> {
    if (this.producer && this.connected) return this.producer;
    this.connecting ??= (async () => {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // KafkaJS 2's default (murmur2, as the Java client: the same key lands on the same partition from any client).
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      // Only the producer in use tells: a replaced one's disconnect ends after its replacement connected, and read as
      // this one's it would show the service not ready, and have the next send connect (and leak) yet another.
      producer.on(producer.events.CONNECT, () => this.producer === producer && (this.connected = true));
      producer.on(producer.events.DISCONNECT, () => this.producer === producer && (this.connected = false));
      await producer.connect();
      this.producer = producer;
      this.connected = true;
      return producer;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  async send(topic: string, messages: Message[]): Promise<void> {
    await this.sendBatch([{ topic, messages }]);
  }

  /**
   * A failed send replaces the producer (a new producer id, new sequence numbers): KafkaJS rolls back the sequence
   * numbers of every partition of a failed request, also of partitions the broker had appended to, so the same
   * producer's next send to those would be refused (OUT_OF_ORDER_SEQUENCE_NUMBER, which KafkaJS does not retry) on
   * every attempt, for good. What the failed send had written is sent again by its caller: at-least-once.
   */
  async sendBatch(topicMessages: TopicMessages[]): Promise<void> {
    if (topicMessages.length === 0) return;
    await this.topics.ensureTopics(topicMessages.map(({ topic }) => topic));
    const producer = await this.connect();
    try {
      await producer.sendBatch({ topicMessages, acks: -1 });
    } catch (error) {
      this.replace(producer);
      throw error;
    }
  }

  private replace(failed: Producer): void {
    if (this.producer !== failed) return; // replaced already by another failed send
    this.producer = undefined;
    this.connected = false;
    this.logger.warn('a send failed: replacing the producer (new producer id and sequence numbers)');
    void failed.disconnect().catch(() => undefined);
    // Connected again at once (readiness), or by the next send if the broker is away.
    void this.connect().catch(() => undefined);
  }

  async disconnect(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    if (producer) {
      await producer.disconnect().catch((error) => this.logger.warn(`producer disconnect: ${error}`));
    }
    this.connected = false;
  }
}
