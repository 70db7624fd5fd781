import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { Collection, Connection } from 'mongoose';
import { EventProducer } from './event-producer';
import { MessagingMetrics } from './metrics';
import { MESSAGING_OPTIONS, MessagingOptions, resolveOptions } from './options';
import { OutboxEntry } from './outbox';

const BATCH_SIZE = 200;

/**
 * Publishes the events stored in documents' outboxes, in order, with acks=all, and removes each one only
 * after the broker acknowledged it. A crash between the write and the publish leaves the events in the
 * document; the next scan (at start, on a kick, or on the poll interval) publishes them. Delivery is
 * therefore at-least-once: consumers are idempotent.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private readonly options: Required<MessagingOptions>;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = true;

  constructor(
    @InjectConnection() private readonly connection: Connection,
    private readonly producer: EventProducer,
    private readonly metrics: MessagingMetrics,
    @Inject(MESSAGING_OPTIONS) options: MessagingOptions,
  ) {
    this.options = resolveOptions(options);
  }

  onApplicationBootstrap(): void {
    this.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.options.relayIntervalMs);
    this.timer.unref();
    this.kick();
  }

  /** Publish soon: called after every write that added events. Concurrent kicks coalesce into one more scan. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((error) => this.logger.warn(`outbox relay: ${(error as Error).message}; will retry`))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Stop polling after publishing everything that is pending (graceful shutdown). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    try {
      await this.flush();
    } catch (error) {
      this.logger.error(`outbox not flushed at shutdown, it will be published at next start: ${error}`);
    }
  }

  /** Publishes until no outbox holds an event. */
  async flush(): Promise<void> {
    await this.running;
    await this.drain();
  }

  private collections(): Collection[] {
    return Object.values(this.connection.models)
      .filter((model) => model.schema.path('outbox'))
      .map((model) => model.collection as unknown as Collection);
  }

  private async drain(): Promise<void> {
    for (const collection of this.collections()) {
      for (;;) {
        const published = await this.publishBatch(collection);
        if (published < BATCH_SIZE) break;
      }
    }
  }

  private async publishBatch(collection: Collection): Promise<number> {
    const docs = (await collection
      .find({ 'outbox.0': { $exists: true } }, { projection: { outbox: 1 } })
      .limit(BATCH_SIZE)
      .toArray()) as unknown as Array<{ _id: unknown; outbox: OutboxEntry[] }>;
    if (docs.length === 0) return 0;

    // In creation order across documents, so events of one key keep the order they were written in.
    const entries = docs.flatMap((doc) => doc.outbox).sort((a, b) => +new Date(a.createdAt) - +new Date(b.createdAt));
    const byTopic = new Map<string, Array<{ key: string; value: string }>>();
    for (const entry of entries) {
      const list = byTopic.get(entry.topic) ?? [];
      list.push({ key: entry.key, value: entry.value });
      byTopic.set(entry.topic, list);
    }
    await this.producer.sendBatch([...byTopic].map(([topic, messages]) => ({ topic, messages })));

    await collection.bulkWrite(
      docs.map((doc) => ({
        updateOne: {
          filter: { _id: doc._id },
          // The exact entries read: $pullAll of whole subdocuments is what MongoDB and FerretDB both support.
          update: { $pullAll: { outbox: doc.outbox } },
        },
      })) as never,
      { ordered: false },
    );
    const count = docs.reduce((n, doc) => n + doc.outbox.length, 0);
    this.metrics.published.inc(count);
    return docs.length;
  }
}
