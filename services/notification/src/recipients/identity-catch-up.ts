import { Topics } from '@lib/contracts';
import {
  committedOffsets,
  consumerGroupFor,
  countBehind,
  KAFKA,
  KafkaEventServer,
  MESSAGING_OPTIONS,
  MessagingOptions,
  offsetsAt,
  ShuttingDownError,
  UnavailableError,
} from '@lib/messaging';
import { BackgroundWork, CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { Admin, Kafka } from 'kafkajs';
import type { NotificationConfig } from '../config';

/** Whether this service had handled every identity event published before an event's time: see IdentityCatchUp. */
export type IdentityCatchUpOutcome = 'current' | 'caught-up' | 'behind';

const POLL_MS = 100;
/** After a wait that gave up, events that find nobody do not wait again for this long: one stall, not one per event. */
export const QUIET_AFTER_TIMEOUT_MS = 30_000;

/**
 * The recipient view (users and roles, from identity.events.v1) may lag behind the event naming whom to notify:
 * identity events and enrollment or profile events are consumed side by side, in any order. A role granted just
 * before the Enroll it allowed (enrollment checked the role in its own view, so the grant was on the topic first) may
 * not be in this view yet when the enrollment's event is handled, and nobody would be told.
 *
 * For an event that found nobody to notify: wait until the consumer of identity events (a consumer of its own, in
 * group `<group>-identity`, so that this wait does not hold it up) has committed every identity message published
 * before the event occurred (offsets by timestamp, so later identity traffic does not hold it up). It waits as long
 * as that consumer gets closer (a backlog after a restart or a bulk import, however long: the emails are late, not
 * lost), giving up after NOTIFY_IDENTITY_WAIT_MS without progress. `caught-up`: look again (also when nothing was pending by the time
 * the broker was asked: the view may have caught up since the first look); `current`: a time already shown caught
 * up, the answer stands; `behind`: given up, within QUIET_AFTER_TIMEOUT_MS of a wait that gave up, or the lag could
 * not be read.
 * Thrown instead, so that the event is handled again later rather than told to nobody (its offset uncommitted):
 * UnavailableError while the identity consumer is not in its group (starting, restarting after a crash: it would
 * make no progress), retried like an outage; ShuttingDownError when the service stops or the event's consumer
 * rebalances (`stopping`) during a wait. Waits share one admin connection and one read of the committed offsets per
 * poll. The handler waits in line with its partition's others.
 */
@Injectable()
export class IdentityCatchUp implements OnApplicationShutdown {
  private readonly logger = new Logger(IdentityCatchUp.name);
  private readonly groupId: string;
  /** Every identity message published before this time (ms) has been handled. */
  private handledBefore = 0;
  /** No wait before this time (ms): the last one gave up. */
  private quietUntil = 0;
  private admin?: Promise<Admin>;
  /** The identity group's committed offsets as last read, shared by the waits polling within POLL_MS of it. */
  private committed?: { at: number; offsets: Promise<Map<string, bigint>> };

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(MESSAGING_OPTIONS) options: MessagingOptions,
    private readonly work: BackgroundWork,
    @Inject(CONFIG) private readonly config: Pick<NotificationConfig, 'NOTIFY_IDENTITY_WAIT_MS'>,
    private readonly consumers: KafkaEventServer,
  ) {
    this.groupId = consumerGroupFor(options, Topics.identity);
  }

  async waitFor(occurredAt: string, stopping: () => boolean = () => false): Promise<IdentityCatchUpOutcome> {
    const at = Date.parse(occurredAt);
    const timeoutMs = this.config.NOTIFY_IDENTITY_WAIT_MS;
    if (timeoutMs <= 0 || !Number.isFinite(at) || at <= this.handledBefore) return 'current';
    this.requireIdentityConsumer();
    if (Date.now() < this.quietUntil) return 'behind';
    const started = Date.now();
    let deadline = started + timeoutMs;
    let closest: bigint | undefined;
    try {
      const admin = await this.connected();
      const askedAt = Date.now();
      const targets = await offsetsAt(admin, Topics.identity, at);
      for (;;) {
        const behind = countBehind(targets, await this.committedOffsets(admin));
        if (behind === 0n) {
          // An `at` ahead of this clock (another service's clock) was answered with the end offsets when asked.
          this.handledBefore = Math.max(this.handledBefore, Math.min(at, askedAt));
          return 'caught-up';
        }
        // Closer than ever: the identity consumer is working through them, so waiting is worth it.
        if (closest === undefined || behind < closest) {
          closest = behind;
          deadline = Date.now() + timeoutMs;
        }
        if (this.work.stopRequested || stopping()) throw new ShuttingDownError('stopping while waiting for the identity events');
        this.requireIdentityConsumer();
        if (Date.now() >= deadline) {
          this.quietUntil = Date.now() + QUIET_AFTER_TIMEOUT_MS;
          this.logger.warn(`recipients of an event of ${occurredAt} looked up ${behind} identity messages behind after ${Date.now() - started} ms`);
          return 'behind';
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    } catch (error) {
      if (error instanceof ShuttingDownError || error instanceof UnavailableError) throw error;
      this.logger.warn(`could not read the identity consumer's lag (${(error as Error).message})`);
      this.dropAdmin();
      return 'behind';
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.dropAdmin();
  }

  private requireIdentityConsumer(): void {
    if (!this.consumers.isConsuming(Topics.identity)) {
      throw new UnavailableError('the identity events are not being consumed (their consumer is starting or restarting)');
    }
  }

  private connected(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      this.admin = admin.connect().then(() => admin);
      this.admin.catch(() => this.dropAdmin());
    }
    return this.admin;
  }

  private dropAdmin(): void {
    const admin = this.admin;
    this.admin = undefined;
    this.committed = undefined;
    admin?.then((a) => a.disconnect()).catch(() => undefined);
  }

  private committedOffsets(admin: Admin): Promise<Map<string, bigint>> {
    const now = Date.now();
    if (this.committed && now - this.committed.at < POLL_MS) return this.committed.offsets;
    const offsets = committedOffsets(admin, this.groupId, [Topics.identity]);
    this.committed = { at: now, offsets };
    offsets.catch(() => {
      if (this.committed?.offsets === offsets) this.committed = undefined;
    });
    return offsets;
  }
}
