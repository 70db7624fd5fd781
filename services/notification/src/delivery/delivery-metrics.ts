import { Injectable } from '@nestjs/common';
import { counterMetric, gaugeMetric, histogramMetric, processWide } from '@lib/messaging';
import type { EmailBacklogFigures } from './email-backlog';

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

/** The email backlogs of this process's notification services (one in production; a test process may run several). */
export const emailBacklogs = processWide<{ read(): Promise<EmailBacklogFigures | undefined> }>('notification.emailBacklogs');

function backlogGauge(name: string, help: string, figure: (figures: EmailBacklogFigures) => number): void {
  gaugeMetric({
    name,
    help,
    async collect() {
      const read = (await Promise.all([...emailBacklogs].map((backlog) => backlog.read()))).filter((figures) => figures !== undefined);
      if (read.length > 0) this.set(Math.max(...read.map(figure)));
      // No figures: no sample (a gauge without labels would otherwise show 0, as if nothing waited).
      else this.remove({});
    },
  });
}

backlogGauge(
  'notification_emails_due',
  'Emails a worker could send now and none holds (new, retry time come, or lease run out), read from the database at scrape',
  (figures) => figures.due,
);
backlogGauge(
  'notification_email_oldest_due_seconds',
  'How long the email due the longest has been due and not sent (0 when none is), read from the database at scrape',
  (figures) => figures.oldestDueSeconds,
);
backlogGauge(
  'notification_emails_retry_scheduled',
  'Emails waiting for a retry whose time is still to come, read from the database at scrape',
  (figures) => figures.retryScheduled,
);
