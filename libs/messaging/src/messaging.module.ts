import { DynamicModule, Global, Module, Provider } from '@nestjs/common';
import { Kafka } from 'kafkajs';
import { EventOutbox } from './event-outbox';
import { EventProducer } from './event-producer';
import { createKafka } from './kafka.provider';
import { KafkaEventServer } from './kafka-event.server';
import { MessagingMetrics } from './metrics';
import { MESSAGING_OPTIONS, MessagingOptions } from './options';
import { OutboxRelay } from './outbox-relay';
import { ProcessedEventLedger } from './processed-event-ledger';
import { KAFKA } from './tokens';
import { TopicAdmin } from './topic-admin';

export interface MessagingModuleAsyncOptions {
  imports?: DynamicModule['imports'];
  inject?: unknown[];
  useFactory: (...args: never[]) => MessagingOptions | Promise<MessagingOptions>;
}

const SERVICES = [
  EventProducer,
  EventOutbox,
  OutboxRelay,
  ProcessedEventLedger,
  KafkaEventServer,
  TopicAdmin,
  MessagingMetrics,
];

/** Kafka for a service: the producer, the outbox relay, the consumer transport and topic admin. Needs Mongoose. */
@Global()
@Module({})
export class MessagingModule {
  static forRootAsync(options: MessagingModuleAsyncOptions): DynamicModule {
    const providers: Provider[] = [
      { provide: MESSAGING_OPTIONS, useFactory: options.useFactory, inject: (options.inject ?? []) as never[] },
      {
        provide: KAFKA,
        useFactory: (opts: MessagingOptions): Kafka => createKafka(opts),
        inject: [MESSAGING_OPTIONS],
      },
      ...SERVICES,
    ];
    return {
      module: MessagingModule,
      imports: options.imports ?? [],
      providers,
      exports: [MESSAGING_OPTIONS, KAFKA, ...SERVICES],
    };
  }
}
