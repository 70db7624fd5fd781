import { Injectable } from '@nestjs/common';
import { Counter, Histogram, register } from 'prom-client';

function counter(name: string, help: string, labelNames: string[] = []): Counter {
  return (register.getSingleMetric(name) as Counter) ?? new Counter({ name, help, labelNames });
}

/** Messaging figures on /metrics. The registry is process-wide, so metrics are created once. */
@Injectable()
export class MessagingMetrics {
  readonly published = counter('outbox_events_published_total', 'Events published from outboxes');
  readonly parked = counter('outbox_events_parked_total', 'Outbox events too large to send, set aside in outboxParked', ['topic']);
  readonly consumed = counter('kafka_messages_consumed_total', 'Messages handled', ['topic', 'outcome']);
  readonly deadLettered = counter('kafka_messages_dead_lettered_total', 'Messages sent to a DLQ', ['topic']);
  readonly handlerSeconds =
    (register.getSingleMetric('kafka_handler_seconds') as Histogram) ??
    new Histogram({
      name: 'kafka_handler_seconds',
      help: 'Time spent handling one message',
      labelNames: ['topic'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    });
}
