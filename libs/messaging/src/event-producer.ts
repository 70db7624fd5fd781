import { Inject, Injectable, Logger } from '@nestjs/common';
import { Kafka, Message, Partitioners, Producer, TopicMessages } from 'kafkajs';
import { KAFKA } from './tokens';
import { TopicAdmin } from './topic-admin';

/** After a failed send: connected again at once, then 1 s, 2 s... up to 30 s apart (EventProducer.reconnect). */
const RECONNECT_FIRST_DELAY_MS = 1_000;
const RECONNECT_MAX_DELAY_MS = 30_000;

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
  /** Sends running, per producer: a replaced one is disconnected once its own have ended. */
  private readonly running = new Map<Producer, number>();
  /** Replaced producers whose sends are still running. */
  private readonly retired = new Set<Producer>();
  /** Disconnected at shutdown: nothing connects again. */
  private closed = false;
  private reconnecting = false;

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
      try {
        await producer.connect();
      } catch (error) {
        // Its client's own connections and retries go with it, not left behind each attempt (not waited for).
        void producer.disconnect().catch(() => undefined);
        throw error;
      }
      if (this.closed) {
        // Connected while the service shut down (a reconnect in flight): not kept.
        await producer.disconnect().catch(() => undefined);
        throw new Error('the producer was disconnected at shutdown');
      }
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
   * every attempt, for good. What the failed send had written is sent again by its caller: at-least-once. The failed
   * producer is disconnected once the other sends running on it (the relay's, other partitions' dead letters) have
   * ended, rather than under them: each would fail and be retried too, replacing the producer once more.
   */
  async sendBatch(topicMessages: TopicMessages[]): Promise<void> {
    if (topicMessages.length === 0) return;
    await this.topics.ensureTopics(topicMessages.map(({ topic }) => topic));
    let producer = await this.connect();
    // Replaced while this send waited for it (another send failed on it; its sequence numbers are not to be trusted,
    // and it is disconnected once its running sends end): the new one.
    for (let attempt = 1; producer !== this.producer && attempt <= 3; attempt++) producer = await this.connect();
    this.running.set(producer, (this.running.get(producer) ?? 0) + 1);
    try {
      await producer.sendBatch({ topicMessages, acks: -1 });
    } catch (error) {
      this.replace(producer);
      // One of them may be gone (deleted since): looked for again, and created, before the retry's send.
      this.topics.forget(topicMessages.map(({ topic }) => topic));
      throw error;
    } finally {
      this.ended(producer);
    }
  }

  private replace(failed: Producer): void {
    if (this.producer !== failed) return; // replaced already by another failed send
    this.producer = undefined;
    this.connected = false;
    this.logger.warn('a send failed: replacing the producer (new producer id and sequence numbers)');
    this.retired.add(failed); // disconnected when its last running send ends (this one's included)
    this.reconnect();
  }

  /**
   * Connected again in the background until it is, or the service stops: readiness reads isConnected, and a replica
   * with nothing to send (another replica's relay drained the shared outbox) would otherwise stay not ready, and get
   * no traffic to send anything, long after the broker came back. Tries again at once, then 1 s, 2 s... up to 30 s apart.
   */
  private reconnect(): void {
    if (this.reconnecting) return;
    this.reconnecting = true;
    void (async () => {
      for (let delay = RECONNECT_FIRST_DELAY_MS; !this.closed && !this.connected; delay = Math.min(delay * 2, RECONNECT_MAX_DELAY_MS)) {
        try {
          await this.connect();
        } catch (error) {
          if (this.closed) break;
          this.logger.warn(`reconnecting the producer: ${(error as Error).message}; again in ${delay} ms`);
          await new Promise((resolve) => setTimeout(resolve, delay).unref());
        }
      }
    })().finally(() => (this.reconnecting = false));
  }

  /** One send on `producer` ended: a replaced producer with none left running is disconnected. */
  private ended(producer: Producer): void {
    const left = (this.running.get(producer) ?? 1) - 1;
    if (left > 0) {
      this.running.set(producer, left);
      return;
    }
    this.running.delete(producer);
    if (this.retired.delete(producer)) void producer.disconnect().catch(() => undefined);
  }

  async disconnect(): Promise<void> {
    this.closed = true;
    const producers = [this.producer, ...this.retired].filter((p): p is Producer => !!p);
    this.producer = undefined;
    this.retired.clear();
    await Promise.all(producers.map((producer) => producer.disconnect().catch((error) => this.logger.warn(`producer disconnect: ${error}`))));
    this.connected = false;
  }
}
