import { withTimeout } from '@lib/messaging';
import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { dueEmailBranches, Message } from '../messages/message.schema';
import { emailBacklogs } from './delivery-metrics';

/** What /metrics shows of the emails waiting to be sent (every instance's: they share the database). */
export interface EmailBacklogFigures {
  /** Emails a worker could send now and none holds: new, their retry time come, or abandoned by a lease that ran out. */
  due: number;
  /** How long the one of them due the longest has been due, in seconds (since its lease ran out, for an abandoned one); 0 when none is. */
  oldestDueSeconds: number;
  /** Emails waiting for a retry whose time is still to come (the SMTP server refused or did not answer). */
  retryScheduled: number;
}

const BACKLOG_CACHE_MS = 5_000;
const BACKLOG_TIMEOUT_MS = 2_000;

/**
 * Reads the emails waiting to be sent from the messages collection when /metrics is scraped, with the worker's own
 * notion of due (`dueEmailBranches`, what `DeliverEmail.claim` takes): a figure that stays up, or an oldest
 * that keeps growing, means the workers are not keeping up or not claiming at all. The queries follow the claim index
 * (`channel, status, nextAttemptAt`); SENDING emails are at most NOTIFY_CONCURRENCY per instance. One reading serves
 * every scrape for BACKLOG_CACHE_MS; a database that does not answer within BACKLOG_TIMEOUT_MS gives no figures (the
 * series are absent) rather than holding the scrape, and the server stops the queries then too (`maxTimeMS`).
 */
@Injectable()
export class EmailBacklog implements OnModuleInit, OnModuleDestroy {
  private last?: { at: number; figures: Promise<EmailBacklogFigures | undefined> };
  private readonly logger = new Logger(EmailBacklog.name);

  constructor(@InjectModel(Message.name) private readonly messages: Model<Message>) {}

  onModuleInit(): void {
    emailBacklogs.add(this);
  }

  onModuleDestroy(): void {
    emailBacklogs.delete(this);
  }

  /** The figures for a scrape: the last reading while it is recent, otherwise a new one; undefined when it failed. */
  read(): Promise<EmailBacklogFigures | undefined> {
    if (this.last && Date.now() - this.last.at < BACKLOG_CACHE_MS) return this.last.figures;
    const figures = withTimeout(this.measure(), BACKLOG_TIMEOUT_MS).catch((error: unknown) => {
      // The series are absent from this scrape: said why (the counts outran maxTimeMS, the database did not answer).
      this.logger.warn(`the email backlog figures are left out of this scrape: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    });
    this.last = { at: Date.now(), figures };
    return figures;
  }

  async measure(now = new Date()): Promise<EmailBacklogFigures> {
    const due = dueEmailBranches(now);
    const waitingDue = { channel: 'EMAIL', ...due.waiting };
    const abandoned = { channel: 'EMAIL', ...due.abandoned };
    const retryLater = { channel: 'EMAIL', status: 'RETRY', nextAttemptAt: { $gt: now } };
    const options = { maxTimeMS: BACKLOG_TIMEOUT_MS };
    const collection = this.messages.collection;
    const [waiting, lapsed, retryScheduled, oldestWaiting, oldestLapsed] = await Promise.all([
      collection.countDocuments(waitingDue as never, options),
      collection.countDocuments(abandoned as never, options),
      collection.countDocuments(retryLater as never, options),
      collection.findOne(waitingDue as never, { ...options, sort: { nextAttemptAt: 1 }, projection: { nextAttemptAt: 1 } }),
      collection.findOne(abandoned as never, { ...options, sort: { leaseUntil: 1 }, projection: { leaseUntil: 1 } }),
    ]);
    const dueSince = Math.min(+(oldestWaiting?.nextAttemptAt ?? Infinity), +(oldestLapsed?.leaseUntil ?? Infinity));
    return {
      due: waiting + lapsed,
      oldestDueSeconds: Number.isFinite(dueSince) ? Math.max(0, (+now - dueSince) / 1_000) : 0,
      retryScheduled,
    };
  }
}
