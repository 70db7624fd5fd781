import type { ConnectionOptions } from 'node:tls';
import type { SASLOptions } from 'kafkajs';

export const MESSAGING_OPTIONS = Symbol('MESSAGING_OPTIONS');

/** How the clients reach the brokers beyond their addresses: TLS (true: the system's CAs) and SASL credentials. */
export interface KafkaConnection {
  ssl?: ConnectionOptions | true;
  sasl?: SASLOptions;
}

export interface MessagingOptions {
  /** The service name: envelope `source`, Kafka client id, and consumer group unless `groupId` is set. */
  serviceName: string;
  brokers: string[];
  /** TLS and SASL; none: plaintext, unauthenticated (a local broker). */
  connection?: KafkaConnection;
  groupId?: string;
  /** Partitions consumed at the same time; messages of one partition (one key) stay in order. */
  partitionsConsumedConcurrently?: number;
  /** Keys of one partition handled at the same time (messages of one key always one after the other). */
  keysConsumedConcurrently?: number;
  /** Attempts for a message whose handler fails with a transient error, before it is dead-lettered. */
  maxAttempts?: number;
  /** First retry delay; doubles on each attempt. */
  retryBackoffMs?: number;
  /** Partitions for topics this service creates if they do not exist. */
  topicPartitions?: number;
  /** Outbox relay tick: looks again at documents noted just before their write landed; writes kick the relay at once. */
  relayIntervalMs?: number;
  /**
   * How often the relay scans every outbox collection for events nobody noted (left by a crash, or written by a
   * process that does not note them). A scan reads the whole collection on servers that cannot index it.
   */
  relaySweepIntervalMs?: number;
  /**
   * The largest outbox entry (key, value, trace headers and a record's overhead: recordBytes) the relay sends, and the most bytes one of its sends carries (so that
   * no partition's batch exceeds what the broker accepts). A larger entry is set aside (`outboxParked`), never sent.
   */
  relayMaxRecordBytes?: number;
  /** Start a new consumer group at the earliest offset, so that views are built from the whole history. */
  fromBeginning?: boolean;
  /**
   * Topics read by a consumer of their own, by name: `{ identity: ['identity.events.v1'] }` consumes that topic in
   * group `<groupId>-identity`, apart from the service's other topics, so that a handler of those waiting for it (the
   * notification service waits for the roles an event's recipients need) does not also hold it up: KafkaJS fetches
   * again only once every batch of a fetch is handled. See consumerGroupFor.
   */
  ownConsumers?: Record<string, string[]>;
}

/** The consumer group that reads `topic` in a service with these options (its own consumer's, or the service's). */
export function consumerGroupFor(options: MessagingOptions, topic: string): string {
  const groupId = options.groupId ?? options.serviceName;
  const own = Object.entries(options.ownConsumers ?? {}).find(([, topics]) => topics.includes(topic));
  return own ? `${groupId}-${own[0]}` : groupId;
}

export function resolveOptions(options: MessagingOptions): Required<MessagingOptions> {
  return {
    groupId: options.serviceName,
    partitionsConsumedConcurrently: 3,
    keysConsumedConcurrently: 16,
    maxAttempts: 5,
    retryBackoffMs: 200,
    topicPartitions: 6,
    relayIntervalMs: 1_000,
    relaySweepIntervalMs: 10_000,
    relayMaxRecordBytes: 1_000_000,
    fromBeginning: true,
    connection: {},
    ownConsumers: {},
    ...options,
  };
}
