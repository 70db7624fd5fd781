import { Inject, Injectable, Logger } from '@nestjs/common';
import { Kafka, Message, Partitioners, Producer, TopicMessages } from 'kafkajs';
import { KAFKA } from './tokens';

/** An idempotent producer that waits for every in-sync replica (acks=all) before it answers. */
@Injectable()
export class EventProducer {
  private readonly logger = new Logger(EventProducer.name);
  private producer?: Producer;
  private connecting?: Promise<Producer>;
  private connected = false;

  constructor(@Inject(KAFKA) private readonly kafka: Kafka) {}

  get isConnected(): boolean {
    return this.connected;
  }

  async connect(): Promise<Producer> {
    if (this.producer && this.connected) return this.producer;
    this.connecting ??= (async () => {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: true,
        // KafkaJS 2's default (murmur2, as the Java client: the same key lands on the same partition from any client).
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      producer.on(producer.events.CONNECT, () => (this.connected = true));
      producer.on(producer.events.DISCONNECT, () => (this.connected = false));
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

  async sendBatch(topicMessages: TopicMessages[]): Promise<void> {
    if (topicMessages.length === 0) return;
    const producer = await this.connect();
    await producer.sendBatch({ topicMessages, acks: -1 });
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
