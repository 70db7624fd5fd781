import { auditLog, BackgroundWork, CONFIG, ProblemException, Problems } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import type { NotificationConfig } from '../../config';
import { DIGEST_TEMPLATE, Message } from '../../messages/message.schema';
import { DeliveryWorker } from '../delivery-worker';

/** The most emails one request sends again: a window with more answers `remaining`, and the next request goes on. */
export const RESEND_BATCH = 500;

/** What an operator asks to send again: `notificationIds`, or the emails that failed in a window (of one partner). */
export interface ResendRequest {
  notificationIds?: string[];
  failedSince?: Date;
  /** Default: now. */
  failedBefore?: Date;
  partnerId?: string;
  /** A window: at most this many this request (default and most: RESEND_BATCH). */
  limit?: number;
}

export interface ResendResult {
  /** The emails waiting to be sent again (each once more with its attempts from 0), by this request. */
  resent: string[];
  /** Ids asked for that were not: why (not found, not an email, not FAILED). */
  notResent: Array<{ notificationId: string; reason: string }>;
  /** A window: the emails in it still FAILED and not sent again since it began, that this request did not reach: ask again. */
  remaining: number;
}

type Failed = Pick<Message, '_id' | 'channel' | 'status' | 'template' | 'digest' | 'resends'>;

interface Window {
  failedSince: Date;
  failedBefore: Date;
  partnerId?: string;
}

/**
 * An operator's way out of an SMTP outage longer than the attempts (NOTIFY_MAX_ATTEMPTS with backoff: about an hour by
 * default): the emails that FAILED are sent again, each as a waiting email is, so whatever changed since is checked
 * before it goes (its recipient left, its invitation revoked, a later change of its enrollment told, its moment passed:
 * CANCELLED then). Each keeps its id and Message-ID, waits PENDING with its attempts from 0, and counts the resend
 * (`resends`, `resentAt`), so that its outcome events are new ones (a NotificationSent, or a second NotificationFailed
 * and dead letter, each with `resend`), not the failure's ids again, which consumers would drop as duplicates.
 *
 * A window takes the emails that failed in it and were not sent again since it began: asked again until `remaining` is
 * 0, it does not take back one that failed again meanwhile (a permanent refusal fails again at once). A digest (many
 * invitation emails in one) is sent again with the emails it gathered that failed with it: held for it once more
 * (HELD), so that they go in one email again and not one by one. In a window, the emails a digest gathered are left to
 * their digest; one named by its id goes by itself.
 *
 * Each write is guarded by FAILED and the resends read: two requests at once send an email again once.
 */
@Injectable()
export class ResendFailedEmails {
  private readonly logger = new Logger(ResendFailedEmails.name);

  constructor(
    @InjectModel(Message.name) private readonly messages: Model<Message>,
    private readonly worker: DeliveryWorker,
    private readonly work: BackgroundWork,
    @Inject(CONFIG) private readonly config: Pick<NotificationConfig, 'SERVICE_NAME' | 'NOTIFY_LEASE_MS'>,
  ) {}

  /** Refused (400) inside the run, so that background_job_runs_total counts it (refused). */
  execute(request: ResendRequest, now = new Date()): Promise<ResendResult> {
    return this.work.run('failed-email-resend', () => this.resend(request, now), { complete: (result) => result.remaining === 0 });
  }

  private async resend(request: ResendRequest, now: Date): Promise<ResendResult> {
    const notResent: ResendResult['notResent'] = [];
    const resent: string[] = [];
    let window: Window | undefined;
    let remaining: number | undefined;
    let failure: unknown;
    try {
      let candidates: Failed[];
      if (request.notificationIds) {
        for (const field of ['failedSince', 'failedBefore', 'partnerId', 'limit'] as const) {
          if (request[field] !== undefined) throw Problems.field(field, `${field} is for a window; send either notificationIds or a window, not both`);
        }
        candidates = await this.named([...new Set(request.notificationIds)], notResent);
      } else {
        if (request.failedSince === undefined) throw Problems.field('failedSince', 'send notificationIds, or failedSince (the window of failures to send again)');
        window = { failedSince: request.failedSince, failedBefore: request.failedBefore ?? now, ...(request.partnerId !== undefined && { partnerId: request.partnerId }) };
        if (+window.failedBefore <= +window.failedSince) throw Problems.field('failedBefore', 'failedBefore must be later than failedSince');
        candidates = (await this.messages.collection
          .find(inWindow(window) as never, { projection: PROJECTION })
          .sort({ failedAt: 1, _id: 1 })
          .limit(Math.min(request.limit ?? RESEND_BATCH, RESEND_BATCH))
          .toArray()) as unknown as Failed[];
      }
      for (const message of candidates) {
        // Counted once its first write took it (a digest's later writes may fail: it goes again all the same).
        if (!(await this.resendOne(message, now, () => resent.push(message._id)))) {
          notResent.push({ notificationId: message._id, reason: 'it is not FAILED as it was read any more: sent again meanwhile' });
        }
      }
      remaining = window ? await this.messages.collection.countDocuments(inWindow(window) as never) : 0;
      if (resent.length) this.logger.log(`${resent.length} failed email(s) sent again${remaining ? `; ${remaining} more in the window` : ''}`);
      return { resent, notResent, remaining };
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      // Waiting again, even when a later step failed: the worker's next fill finds them anyway.
      if (resent.length) this.worker.enqueue(resent, 0);
      // Every request, also one that found nothing to send, was refused (400) or failed part way (the emails sent
      // again before the failure are named): what an operator asked for, and what it did.
      auditLog(this.config.SERVICE_NAME, `${resent.length} failed email(s) sent again by the operator${failure ? ', then it stopped' : ''}`, {
        event: 'failed-emails-resent',
        ...(window
          ? { failedSince: window.failedSince.toISOString(), failedBefore: window.failedBefore.toISOString(), ...(window.partnerId && { partnerId: window.partnerId }) }
          : request.notificationIds && { asked: request.notificationIds.length }),
        notificationIds: resent,
        notResent: notResent.length,
        ...(remaining !== undefined && { remaining }),
        ...(failure !== undefined && { failed: failedAs(failure) }),
      });
    }
  }

  /**
   * The named emails that can be sent again; the others in `notResent` with why. The emails a digest gathered first:
   * named with their digest, each goes by itself as asked, before the digest takes the others back.
   */
  private async named(ids: string[], notResent: ResendResult['notResent']): Promise<Failed[]> {
    const found = (await this.messages.collection.find({ _id: { $in: ids } } as never, { projection: PROJECTION }).toArray()) as unknown as Failed[];
    const byId = new Map(found.map((message) => [message._id, message]));
    const candidates: Failed[] = [];
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
    return [...candidates.filter((m) => m.digest), ...candidates.filter((m) => !m.digest)];
  }

  /**
   * Waiting again (PENDING, due now, attempts from 0, one more resend), if still FAILED with the resends read (`taken`
   * as soon as that write matched). A
   * digest in three writes: open again but not due yet (so that the sweep of gathered emails, reading them held, finds
   * their digest open and leaves them), its emails held for it, then due. A stop in between leaves it due a lease later
   * with the emails held by then (none: it fails again at once, with a new dead letter).
   */
  private async resendOne(message: Failed, now: Date, taken: () => void): Promise<boolean> {
    const digest = message.template === DIGEST_TEMPLATE;
    const { modifiedCount } = await this.messages.collection.updateOne(
      { _id: message._id as never, status: 'FAILED', resends: message.resends ?? { $exists: false } } as never,
      {
        $set: { status: 'PENDING', attempts: 0, nextAttemptAt: digest ? new Date(now.getTime() + this.config.NOTIFY_LEASE_MS) : now, resentAt: now },
        $inc: { resends: 1 },
        // A gathered email named by its id goes by itself (its digest stays as it ended).
        $unset: { failedAt: 1, lastError: 1, leaseToken: 1, leaseUntil: 1, digest: 1, digestClaim: 1 },
      },
    );
    if (modifiedCount === 0) return false;
    taken();
    if (digest) {
      await this.messages.collection.updateMany({ 'digest.id': message._id, status: 'FAILED' } as never, {
        $set: { status: 'HELD', resentAt: now },
        $inc: { resends: 1 },
        $unset: { failedAt: 1, lastError: 1, digestClaim: 1 },
      });
      await this.messages.collection.updateOne({ _id: message._id as never, status: 'PENDING', attempts: 0 } as never, { $set: { nextAttemptAt: now } });
    }
    return true;
  }
}

/** How a request failed, for its audit line: a refusal's status, type and fields; otherwise the error's name only. */
function failedAs(failure: unknown): Record<string, unknown> {
  if (!(failure instanceof ProblemException)) return { error: failure instanceof Error ? failure.name : typeof failure };
  return { status: failure.getStatus(), type: failure.problemType, ...(failure.extensions.errors !== undefined && { errors: failure.extensions.errors }) };
}

const PROJECTION = { _id: 1, channel: 1, status: 1, template: 1, digest: 1, resends: 1 };

/**
 * The emails that failed in the window (of the partner) and were not sent again since it began, not those a digest
 * gathered: they go with their digest.
 */
function inWindow(window: Window) {
  return {
    channel: 'EMAIL',
    status: 'FAILED',
    failedAt: { $gte: window.failedSince, $lt: window.failedBefore },
    digest: { $exists: false },
    $or: [{ resentAt: { $exists: false } }, { resentAt: { $lt: window.failedSince } }],
    ...(window.partnerId !== undefined && { partnerId: window.partnerId }),
  };
}
