import { Injectable } from '@nestjs/common';
import { Counter, Histogram, register } from 'prom-client';

function counter(name: string, help: string, labelNames: string[]): Counter {
  return (register.getSingleMetric(name) as Counter) ?? new Counter({ name, help, labelNames });
}

/** Email delivery figures on /metrics (the registry is process-wide, so metrics are created once). */
@Injectable()
export class DeliveryMetrics {
  /** outcome: sent, retry, failed, cancelled, lease_lost */
  readonly attempts = counter('notification_email_attempts_total', 'SMTP attempts by outcome', ['outcome', 'template']);
  readonly created = counter('notification_messages_created_total', 'Messages created from domain events', ['channel', 'template']);
  readonly sendSeconds =
    (register.getSingleMetric('notification_smtp_send_seconds') as Histogram) ??
    new Histogram({
      name: 'notification_smtp_send_seconds',
      help: 'Time of one SMTP attempt',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
}
