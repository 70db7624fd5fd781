import { Topics } from '@lib/contracts';
import { KAFKA, MESSAGING_OPTIONS, MessagingOptions, offsetsAt, partitionsBehind } from '@lib/messaging';
import { BackgroundWork, CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import type { NotificationConfig } from '../config';

/** Whether this service had handled every identity event published before an event's time: see IdentityCatchUp. */
export type IdentityCatchUpOutcome = 'current' | 'caught-up' | 'behind';

const POLL_MS = 100;

/**
 * The recipient view (users and roles, from identity.events.v1) may lag behind the event naming whom to notify:
 * identity events and enrollment or profile events are consumed side by side, in any order. A role granted just
 * before the Enroll it allowed (enrollment checked the role in its own view, so the grant was on the topic first) may
 * not be in this view yet when the enrollment's event is handled, and nobody would be told.
 *
 * For an event that found nobody to notify: wait (at most NOTIFY_IDENTITY_WAIT_MS) until this service's consumer
 * group has committed every identity message published before the event occurred (offsets by timestamp, so later
 * identity traffic does not hold it up). `current`: nothing was pending, the answer stands; `caught-up`: it was
 * behind and is no more, look again; `behind`: still behind at the deadline (or the lag could not be read).
 * Times already shown to be caught up are remembered, so only an event newer than the last check queries the broker.
 */
@Injectable()
export class IdentityCatchUp {
  private readonly logger = new Logger(IdentityCatchUp.name);
  /** Every identity message published before this time (ms) has been handled. */
  private handledBefore = 0;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(MESSAGING_OPTIONS) private readonly options: MessagingOptions,
    private readonly work: BackgroundWork,
    @Inject(CONFIG) private readonly config: Pick<NotificationConfig, 'NOTIFY_IDENTITY_WAIT_MS'>,
  ) {}

  async waitFor(occurredAt: string): Promise<IdentityCatchUpOutcome> {
    const at = Date.parse(occurredAt);
    const timeoutMs = this.config.NOTIFY_IDENTITY_WAIT_MS;
    if (timeoutMs <= 0 || !Number.isFinite(at) || at <= this.handledBefore) return 'current';
    const deadline = Date.now() + timeoutMs;
    const groupId = this.options.groupId ?? this.options.serviceName;
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const before = await offsetsAt(admin, Topics.identity, at);
      for (let first = true; ; first = false) {
        const behind = await partitionsBehind(admin, groupId, before);
        if (behind.length === 0) {
          this.handledBefore = Math.max(this.handledBefore, at);
          return first ? 'current' : 'caught-up';
        }
        if (this.work.stopRequested || Date.now() >= deadline) {
          this.logger.warn(`recipients of an event of ${occurredAt} looked up with ${behind.join(', ')} not handled up to that time`);
          return 'behind';
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    } catch (error) {
      this.logger.warn(`could not read the identity consumer's lag (${(error as Error).message})`);
      return 'behind';
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}
