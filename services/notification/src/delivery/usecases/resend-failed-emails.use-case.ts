import { auditLog, BackgroundWork, CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import type { NotificationConfig } from '../../config';
import { DIGEST_TEMPLATE, Message } from '../../messages/message.schema';
import { DeliveryWorker } from '../delivery-worker';

/** The most emails one request sends again: a window with more answers `remaining`, and the next request goes on. */
export const RESEND_BATCH = 500;

/** Which failed emails to send again: these ids, or those that failed in a window (of one partner). */
export type ResendSelection =
  | { notificationIds: string[] }
  | { failedSince: Date; failedBefore: Date; partnerId?: string };

export interface ResendResult {
  /** The emails waiting to be sent again (each once more with its attempts from 0), by this request. */
  resent: string[];
  /** Ids asked for that were not: why (not found, not an email, not FAILED). */
  notResent: Array<{ notificationId: string; reason: string }>;
  /** A window: the emails in it still FAILED and not resent by this request (past RESEND_BATCH): ask again. */
  remaining: number;
}

type Failed = Pick<Message, '_id' | 'channel' | 'status' | 'template' | 'digest'>;

/**
 * An operator's way out of an SMTP outage longer than the attempts (NOTIFY_MAX_ATTEMPTS with backoff: about an hour by
 * default): the emails that FAILED are sent again, each as a waiting email is, so whatever changed since is checked
 * before it goes (its recipient left, its invitation revoked, a later change of its enrollment told, its moment passed:
 * CANCELLED then). Each keeps its id and Message-ID, waits PENDING with its attempts from 0, and counts the resend
 * (`resends`), so that its outcome events are new ones (a NotificationSent, or a second NotificationFailed and dead
 * letter, each with `resend`), not the failure's ids again, which consumers would drop as duplicates.
 *
 * A digest (many invitation emails in one) is sent again with the emails it gathered that failed with it: held for it
 * once more (HELD), so that they go in one email again and not one by one. In a window, the emails a digest gathered
 * are left to their digest; one named by its id goes by itself.
 *
 * Each write is guarded by FAILED: an email already sent again (by another request, or since it failed again) is left
 * as it is, and two requests at once send an email again once.
 */
@Injectable()
export class ResendFailedEmails {
  private readonly logger = new Logger(ResendFailedEmails.name);

  constructor(
    @InjectModel(Message.name) private readonly messages: Model<Message>,
    private readonly worker: DeliveryWorker,
    private readonly work: BackgroundWork,
    @Inject(CONFIG) private readonly config: Pick<NotificationConfig, 'SERVICE_NAME'>,
  ) {}

  execute(selection: ResendSelection, now = new Date()): Promise<ResendResult> {
    return this.work.run('failed-email-resend', () => this.resend(selection, now), { complete: (result) => result.remaining === 0 });
  }

  private async resend(selection: ResendSelection, now: Date): Promise<ResendResult> {
    const projection = { _id: 1, channel: 1, status: 1, template: 1, digest: 1 };
    const notResent: ResendResult['notResent'] = [];
    let candidates: Failed[];
    if ('notificationIds' in selection) {
      const ids = [...new Set(selection.notificationIds)];
      const found = (await this.messages.collection.find({ _id: { $in: ids } } as never, { projection }).toArray()) as unknown as Failed[];
      const byId = new Map(found.map((message) => [message._id, message]));
      candidates = [];
      for (const id of ids) {
        const message = byId.get(id);
        const reason = !message
          ? 'no such message'
          : message.channel !== 'EMAIL'
            ? 'an inbox entry: it is never sent'
            : message.status !== 'FAILED'
              ? `it is ${message.status}, not FAILED`
              : null;
        if (reason) notResent.push({ notificationId: id, reason });
        else candidates.push(message!);
      }
    } else {
      candidates = (await this.messages.collection
        .find(this.window(selection) as never, { projection })
        .sort({ failedAt: 1, _id: 1 })
        .limit(RESEND_BATCH)
        .toArray()) as unknown as Failed[];
    }
    const resent: string[] = [];
    for (const message of candidates) {
      if (await this.resendOne(message, now)) resent.push(message._id);
      else notResent.push({ notificationId: message._id, reason: 'it is not FAILED any more: sent again meanwhile' });
    }
    const remaining = 'notificationIds' in selection ? 0 : await this.messages.collection.countDocuments(this.window(selection) as never);
    if (resent.length) {
      this.worker.enqueue(resent, 0);
      auditLog(this.config.SERVICE_NAME, `${resent.length} failed email(s) sent again by the operator`, { event: 'failed-emails-resent', notificationIds: resent });
      this.logger.log(`${resent.length} failed email(s) sent again${remaining ? `; ${remaining} more in the window` : ''}`);
    }
    return { resent, notResent, remaining };
  }

  /** The emails that failed in the window (of the partner), not those a digest gathered: they go with their digest. */
  private window(selection: Extract<ResendSelection, { failedSince: Date }>) {
    return {
      channel: 'EMAIL',
      status: 'FAILED',
      failedAt: { $gte: selection.failedSince, $lt: selection.failedBefore },
      digest: { $exists: false },
      ...(selection.partnerId !== undefined && { partnerId: selection.partnerId }),
    };
  }

  /**
   * Waiting again (PENDING, due now, attempts from 0, one more resend), if still FAILED. A digest's emails are held for it
   * first: written the other way round, a worker's scan could claim the digest between the two writes, find its emails
   * FAILED still, and end it FAILED again. A stop in between leaves them held for a digest that is over, which the
   * sweep sends by themselves.
   */
  private async resendOne(message: Failed, now: Date): Promise<boolean> {
    if (message.template === DIGEST_TEMPLATE) {
      await this.messages.collection.updateMany({ 'digest.id': message._id, status: 'FAILED' } as never, {
        $set: { status: 'HELD' },
        $inc: { resends: 1 },
        $unset: { failedAt: 1, digestClaim: 1 },
      });
    }
    const { modifiedCount } = await this.messages.collection.updateOne({ _id: message._id as never, status: 'FAILED' }, {
      $set: { status: 'PENDING', attempts: 0, nextAttemptAt: now },
      $inc: { resends: 1 },
      // A gathered email named by its id goes by itself (its digest stays as it ended).
      $unset: { failedAt: 1, leaseToken: 1, leaseUntil: 1, digest: 1, digestClaim: 1 },
    });
    return modifiedCount === 1;
  }
}
