import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import mongoose, { Connection, Model } from 'mongoose';
import { register } from 'prom-client';
import { EmailBacklog } from '../src/delivery/email-backlog';
import '../src/delivery/delivery-metrics';
import { Message, MessageSchema } from '../src/messages/message.schema';
import { waitingEmail } from './support/emails';

/**
 * What notification's /metrics tells of the emails waiting to be sent, read from the real database server of the run
 * (no broker, no SMTP): emails a worker could send now and none holds, how long the oldest of them has waited, and the
 * retries whose time is still to come.
 */
let connection: Connection;
let messages: Model<Message>;
let backlog: EmailBacklog;

beforeAll(async () => {
  connection = await mongoose
    .createConnection(process.env.MONGO_URL!, { dbName: `notification_backlog_${randomUUID().slice(0, 8)}`, directConnection: true, serverSelectionTimeoutMS: 10_000 })
    .asPromise();
  messages = connection.model(Message.name, MessageSchema);
  await messages.init();
  backlog = new EmailBacklog(messages);
});

afterAll(async () => {
  backlog?.onModuleDestroy();
  await connection?.dropDatabase().catch(() => undefined);
  await connection?.close();
});

const secondsAgo = (seconds: number) => new Date(Date.now() - seconds * 1_000);

/** The samples of a gauge as /metrics shows them (labels left out: `service` is not set in this process). */
async function scraped(name: string): Promise<number[]> {
  const text = await register.getSingleMetricAsString(name);
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].map((match) => Number(match[1]));
}

describe('the email backlog', () => {
  it('is empty with no email waiting', async () => {
    await expect(backlog.measure()).resolves.toEqual({ due: 0, oldestDueSeconds: 0, retryScheduled: 0 });
  });

  it('counts emails new, due for a retry, or abandoned by a worker whose lease ran out; the oldest from when it fell due', async () => {
    await messages.collection.insertMany([
      // Due: new, a retry whose time came, a lease that ran out 200 s ago (the oldest).
      waitingEmail({ nextAttemptAt: secondsAgo(90) }),
      waitingEmail({ status: 'RETRY', attempts: 2, nextAttemptAt: secondsAgo(30) }),
      waitingEmail({ status: 'SENDING', attempts: 1, nextAttemptAt: secondsAgo(900), leaseUntil: secondsAgo(200), leaseToken: randomUUID() }),
      // Not due: a retry still to come; a worker's lease still running; done with.
      waitingEmail({ status: 'RETRY', attempts: 1, nextAttemptAt: new Date(Date.now() + 3_600_000) }),
      waitingEmail({ status: 'SENDING', attempts: 1, nextAttemptAt: secondsAgo(600), leaseUntil: new Date(Date.now() + 60_000), leaseToken: randomUUID() }),
      waitingEmail({ status: 'SENT', attempts: 1, nextAttemptAt: secondsAgo(3_000), sentAt: secondsAgo(2_900) }),
      waitingEmail({ status: 'FAILED', attempts: 5, nextAttemptAt: secondsAgo(3_000), failedAt: secondsAgo(2_900) }),
      waitingEmail({ status: 'CANCELLED', attempts: 0, nextAttemptAt: secondsAgo(3_000) }),
      // Inbox entries are never sent.
      { ...waitingEmail(), _id: `${randomUUID()}:u:INBOX`, channel: 'INBOX', status: 'SENT', nextAttemptAt: undefined },
    ] as never[]);

    const figures = await backlog.measure();

    expect({ due: figures.due, retryScheduled: figures.retryScheduled }).toEqual({ due: 3, retryScheduled: 1 });
    expect(figures.oldestDueSeconds).toBeGreaterThanOrEqual(200);
    expect(figures.oldestDueSeconds).toBeLessThan(260);
  });

  it('is what /metrics shows, read once per scrape and kept for a few seconds', async () => {
    backlog.onModuleInit();
    const measure = jest.spyOn(backlog, 'measure');

    expect(await scraped('notification_emails_due')).toEqual([3]);
    expect(await scraped('notification_emails_retry_scheduled')).toEqual([1]);
    const [oldest] = await scraped('notification_email_oldest_due_seconds');
    expect(oldest).toBeGreaterThanOrEqual(200);
    // Three gauges scraped one after the other within a few seconds: one reading of the database.
    expect(measure).toHaveBeenCalledTimes(1);
    measure.mockRestore();
  });

  it('shows no figures once its service stopped, and none (rather than holding the scrape) from a database that does not answer', async () => {
    backlog.onModuleDestroy();
    expect(await scraped('notification_emails_due')).toEqual([]);

    const countDocuments = jest.fn(() => new Promise(() => undefined));
    const findOne = jest.fn(() => new Promise(() => undefined));
    const hanging = new EmailBacklog({ collection: { countDocuments, findOne } } as never);
    hanging.onModuleInit();
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const started = Date.now();
      expect(await scraped('notification_emails_due')).toEqual([]);
      // Asked, and given up on after its timeout: not a stub that failed at once.
      expect(countDocuments).toHaveBeenCalled();
      expect(findOne).toHaveBeenCalled();
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
      expect(Date.now() - started).toBeLessThan(4_000);
      // And said why the figures are missing.
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^the email backlog figures are left out of this scrape: no answer in \d+ ms$/));
    } finally {
      warn.mockRestore();
      hanging.onModuleDestroy();
    }
  });
});
