import { Injectable } from '@nestjs/common';
import { Counter, CounterConfiguration, Gauge, GaugeConfiguration, Histogram, HistogramConfiguration, register } from 'prom-client';

/**
 * Metrics live in prom-client's process-wide registry, which refuses a second metric of one name: each is made the
 * first time it is asked for, and every later caller (another instance of a provider, another app in a test process)
 * gets that one.
 */
export function counterMetric(config: CounterConfiguration<string>): Counter {
  return (register.getSingleMetric(config.name) as Counter | undefined) ?? new Counter(config);
}
export function gaugeMetric(config: GaugeConfiguration<string>): Gauge {
  return (register.getSingleMetric(config.name) as Gauge | undefined) ?? new Gauge(config);
}
export function histogramMetric(config: HistogramConfiguration<string>): Histogram {
  return (register.getSingleMetric(config.name) as Histogram | undefined) ?? new Histogram(config);
}

const counter = (name: string, help: string, labelNames: string[] = []) => counterMetric({ name, help, labelNames });

/** What an outbox relay tells /metrics about itself. */
export interface RelayStatus {
  /** Failed drains since the last one that published everything it found. */
  consecutiveFailures: number;
  /** When the last drain that published everything it found ended (ms); the relay's start until one did. */
  lastSuccessAt?: number;
  /** After a failed drain: when the oldest event it could not publish was written (ms); none once a drain succeeds. */
  unpublishedSince?: number;
  /** While a drain runs: when the oldest event it has read and not published yet was written (ms). */
  inFlightSince?: number;
}

/**
 * A set of what gauges read at scrape (relays, lag readers, a service's own sources), kept once per process under
 * `name` (on globalThis: a second copy of a module, in a test runner or a bundle, shares prom-client's registry and so
 * the gauges made by the first copy, which must see what the second registers too).
 */
export function processWide<T>(name: string): Set<T> {
  const key = Symbol.for(`incentives.messaging.${name}`);
  const store = globalThis as unknown as Record<symbol, Set<T> | undefined>;
  return (store[key] ??= new Set<T>());
}

/** The relays of this process (one per service; a test process runs several), read when /metrics is scraped. */
export const relayStatuses = processWide<RelayStatus>('relayStatuses');

/** A gauge whose value is read from the live relays at each scrape (the worst of them, when a process runs several). */
function relayGauge(name: string, help: string, value: (statuses: RelayStatus[]) => number | undefined): Gauge {
  return gaugeMetric({
    name,
    help,
    collect() {
      this.reset();
      const figure = value([...relayStatuses]);
      if (figure !== undefined) this.set(figure);
    },
  });
}

relayGauge(
  'outbox_oldest_unpublished_seconds',
  'Age of the oldest event the outbox relay has found and not published yet (0 once a drain published everything it found)',
  (statuses) => {
    const since = Math.min(...statuses.flatMap((status) => [status.unpublishedSince ?? Infinity, status.inFlightSince ?? Infinity]));
    return statuses.length ? (Number.isFinite(since) ? Math.max(0, (Date.now() - since) / 1_000) : 0) : undefined;
  },
);
relayGauge('outbox_relay_consecutive_failures', 'Failed outbox relay drains in a row', (statuses) =>
  statuses.length ? Math.max(...statuses.map((status) => status.consecutiveFailures)) : undefined,
);
relayGauge(
  'outbox_relay_last_success_timestamp_seconds',
  'When an outbox relay drain last published everything it found (Unix time; its start until one did); the relay drains every OUTBOX_RELAY_INTERVAL_MS',
  (statuses) => {
    const times = statuses.map((status) => status.lastSuccessAt);
    return times.length && times.every((at) => at !== undefined) ? Math.min(...(times as number[])) / 1_000 : undefined;
  },
);

/** Reads consumer groups' lag from the broker (GroupLagReader); one per service's consumers in this process. */
export const lagReaders = processWide<{ read(): Promise<Array<{ group: string; topic: string; partition: number; lag: number }>> }>('lagReaders');

gaugeMetric({
  name: 'kafka_consumer_group_lag',
  help: 'Messages of a partition the consumer group has not committed yet (end offset minus committed offset), read from the broker at scrape',
  labelNames: ['group', 'topic', 'partition'],
  async collect() {
    const rows = (await Promise.all([...lagReaders].map((reader) => reader.read()))).flat();
    this.reset();
    for (const { group, topic, partition, lag } of rows) this.set({ group, topic, partition: String(partition) }, lag);
  },
});

/** Messaging figures on /metrics. */
@Injectable()
export class MessagingMetrics {
  readonly published = counter('outbox_events_published_total', 'Events published from outboxes');
  readonly parked = counter('outbox_events_parked_total', 'Outbox events too large to send, set aside in outboxParked', ['topic']);
  readonly consumed = counter('kafka_messages_consumed_total', 'Messages handled', ['topic', 'outcome']);
  readonly deadLettered = counter('kafka_messages_dead_lettered_total', 'Messages sent to a DLQ', ['topic']);
  readonly keyedOtherwise = counter(
    'kafka_messages_keyed_otherwise_total',
    "An outside system's messages keyed otherwise than their topic's contract says (applied, in arrival order across partitions)",
    ['topic'],
  );
  readonly handlerSeconds = histogramMetric({
    name: 'kafka_handler_seconds',
    help: 'Time spent handling one message',
    labelNames: ['topic'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  });
}
