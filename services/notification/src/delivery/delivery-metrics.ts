import { Injectable } from '@nestjs/common';
import { counterMetric, histogramMetric } from '@lib/messaging';

/** Email delivery figures on /metrics. */
@Injectable()
export class DeliveryMetrics {
  /** outcome: sent, retry, failed, cancelled, lease_lost */
  readonly attempts = counterMetric({ name: 'notification_email_attempts_total', help: 'SMTP attempts by outcome', labelNames: ['outcome', 'template'] });
  readonly created = counterMetric({ name: 'notification_messages_created_total', help: 'Messages created from domain events', labelNames: ['channel', 'template'] });
  readonly sendSeconds = histogramMetric({
    name: 'notification_smtp_send_seconds',
    help: 'Time of one SMTP attempt',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
}
