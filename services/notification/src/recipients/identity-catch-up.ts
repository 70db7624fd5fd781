import { Topics } from '@lib/contracts';
import {
  committedOffsets,
  consumerGroupFor,
  countBehind,
  isInfrastructure,
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
/** After a wait that gave up, events do not wait again for this long (they keep the recipients found): one stall, not one per event. */
export const QUIET_AFTER_TIMEOUT_MS = 30_000;
/** How long at least an unreadable lag (the broker away, a coordinator moving) has events retried before they go on. */
const MIN_UNREADABLE_RETRY_MS = 60_000;

/**
 * The recipient view (users and roles, from identity.events.v1) may lag behind the event naming whom to notify:
 * identity events and enrollment or profile events are consumed side by side, in any order. A role granted just
 * before the Enroll it allowed (enrollment checked the role in its own view, so the grant was on the topic first) may
 * not be in this view yet when the enrollment's event is handled, and nobody would be told.
 *
 * The same holds for an event whose recipients were found by role, not only for one that found nobody: an admin made
 * Incentives admin of a location that already has one, who enrolls at once, would be left out while the others are
 * told. So for an event that found nobody to notify, or whose recipients come from the view by role (MessagePlan
 * `fromView`), and whose time the view was not known to cover when it was planned (`covers`): wait until the consumer
 * of identity events (a consumer of its own, in group `<group>-identity`, so that this wait does not hold it up) has
 * committed every identity message published before the event occurred. First, cheaply: the topic's end offsets, read
 * at or after the event's time (one reading at a time, shared by every wait for a time at or before it was asked), and
 * the group's committed offsets; committed up to those ends (the usual case), it is caught up to when that reading was
 * asked.
 * Else precisely: offsets by timestamp, so later identity traffic does not hold it up. It waits as long as that
 * consumer gets closer (a backlog after a restart or a bulk import, however long: the emails are late, not lost),
 * giving up after NOTIFY_IDENTITY_WAIT_MS without progress. `caught-up`: look again (also when nothing was pending by
 * the time the broker was asked: the view may have caught up since the first look); `current`: a time already shown
 * caught up, which stands only if `covers` said so before the first look (another event's wait may have shown it
 * since); `behind`: given up, within QUIET_AFTER_TIMEOUT_MS of a wait that gave up, or the lag could not be read for
 * a reason no retry mends (a broker refusing the admin calls), or for an outage longer than NOTIFY_IDENTITY_WAIT_MS
 * (at least a minute). Thrown instead, so that the event is handled again later rather than told to too few (its offset
 * uncommitted): UnavailableError while the identity consumer is not in its group (starting, restarting after a crash:
 * it would make no progress), or while the broker cannot answer (away, a coordinator moving) for a shorter while,
 * retried like an outage; ShuttingDownError when the service stops or the event's consumer
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
  /** Since when the lag could not be read for an outage (its events retried meanwhile: waitFor), until a read succeeds. */
  private lagUnreadableSince?: number;
  private admin?: Promise<Admin>;
  /** The identity group's committed offsets as last read, shared by the waits polling within POLL_MS of it. */
  private committed?: { at: number; offsets: Promise<Map<string, bigint>> };
  /** The reading of the identity topic's end offsets in progress (handledToTheEnd), and when it was asked. */
  private endReading?: { askedAt: number; caughtUp: Promise<boolean> };

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(MESSAGING_OPTIONS) options: MessagingOptions,
    private readonly work: BackgroundWork,
    @Inject(CONFIG) private readonly config: Pick<NotificationConfig, 'NOTIFY_IDENTITY_WAIT_MS'>,
    private readonly consumers: KafkaEventServer,
  ) {
    this.groupId = consumerGroupFor(options, Topics.identity);
  }

  /**
   * Whether a plan made now from the view stands without waiting: every identity message published before
   * `occurredAt` is known handled (or no wait is configured, or the time cannot be read). No broker call.
   */
  covers(occurredAt: string): boolean {
    const at = Date.parse(occurredAt);
    return this.config.NOTIFY_IDENTITY_WAIT_MS <= 0 || !Number.isFinite(at) || at <= this.handledBefore;
  }

  /**
   * Whether every identity message published before `occurredAt` is known handled (a wait saw it), so the view shows
   * each user's roles as of the event or later. Unlike `covers`, not when waits are turned off. No broker call.
   */
  handled(occurredAt: string): boolean {
    const at = Date.parse(occurredAt);
    return Number.isFinite(at) && at <= this.handledBefore;
  }

  async waitFor(occurredAt: string, stopping: () => boolean = () => false): Promise<IdentityCatchUpOutcome> {
    if (this.covers(occurredAt)) return 'current';
    const at = Date.parse(occurredAt);
    const timeoutMs = this.config.NOTIFY_IDENTITY_WAIT_MS;
    this.requireIdentityConsumer();
    if (Date.now() < this.quietUntil) return 'behind';
    const started = Date.now();
    let deadline = started + timeoutMs;
    let closest: bigint | undefined;
    try {
      const admin = await this.connected();
      // Usually nothing is pending: one reading of the end offsets, shared by the waits meanwhile, answers them all.
      const caughtUp = await this.handledToTheEnd(admin, at);
      this.lagUnreadableSince = undefined; // read
      if (caughtUp) return 'caught-up';
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
      this.dropAdmin();
      // The broker away or moving (a restart, a coordinator changing): the event is handled again later, as in any
      // outage, rather than planned on a view not known to be current (whom it tells is kept for good). For a while:
      // a lag that stays unreadable (the broker answers the consumers, not these reads) would hold every partition.
      const now = Date.now();
      if (isInfrastructure(error)) {
        this.lagUnreadableSince ??= now;
        if (now - this.lagUnreadableSince < Math.max(timeoutMs, MIN_UNREADABLE_RETRY_MS)) {
          throw new UnavailableError(`the identity consumer's lag could not be read (${(error as Error).message})`);
        }
      }
      this.quietUntil = now + QUIET_AFTER_TIMEOUT_MS;
      this.logger.warn(`could not read the identity consumer's lag (${(error as Error).message})`);
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
      const connecting = admin.connect().then(() => admin);
      this.admin = connecting;
      // Failed: its client disconnected too (dropAdmin disconnects only one that connected), and dropped unless another
      // has taken its place since (dropped meanwhile, then connected again): that one is in use.
      connecting.catch(() => {
        if (this.admin === connecting) this.dropAdmin();
        void admin.disconnect().catch(() => undefined);
      });
    }
    return this.admin;
  }

  private dropAdmin(): void {
    const admin = this.admin;
    this.admin = undefined;
    this.committed = undefined;
    this.endReading = undefined;
    admin?.then((a) => a.disconnect()).catch(() => undefined);
  }

  /**
   * Whether the identity group had committed every message the topic held when asked, asked at or after `at`: then
   * every identity message published before that time is handled, and handledBefore moves there. One reading at a
   * time (the topic's end offsets, and the shared read of the committed ones) serves every wait for a time at or
   * before it was asked. False when the group is behind, and for an `at` ahead of this clock (another service's).
   */
  private async handledToTheEnd(admin: Admin, at: number): Promise<boolean> {
    if (at <= this.handledBefore) return true;
    let reading = this.endReading;
    if (!reading || reading.askedAt < at) {
      const askedAt = Date.now();
      if (askedAt < at) return false;
      const caughtUp = this.readEnds(admin).then((done) => {
        if (done) this.handledBefore = Math.max(this.handledBefore, askedAt);
        return done;
      });
      const started = { askedAt, caughtUp };
      this.endReading = reading = started;
      caughtUp.then(
        () => this.endReading === started && (this.endReading = undefined),
        () => this.endReading === started && (this.endReading = undefined),
      );
    }
    return reading.caughtUp;
  }

  /** Whether the group has committed up to the end of every identity partition holding a message. */
  private async readEnds(admin: Admin): Promise<boolean> {
    const [bounds, committed] = await Promise.all([admin.fetchTopicOffsets(Topics.identity), this.committedOffsets(admin)]);
    const ends = new Map<string, bigint>();
    // A partition whose messages are all gone (retention) or that never held one: nothing there is left to handle.
    for (const { partition, low, high } of bounds) if (BigInt(high) > BigInt(low)) ends.set(`${Topics.identity}:${partition}`, BigInt(high));
    return countBehind(ends, committed) === 0n;
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
