import { Topics } from '@lib/contracts';
import {
  consumerGroupFor,
  DeadLetteredEvent,
  endOffsets,
  KAFKA,
  MESSAGING_OPTIONS,
  MessagingOptions,
  partitionsBehind,
  ProcessedEventLedger,
} from '@lib/messaging';
import { BackgroundWork, CONFIG, ProblemException } from '@lib/platform';
import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import type { Admin, Kafka } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EnrollmentConfig } from '../config';

/** The topics whose facts decide a renewal. */
export const RENEWAL_INPUTS = [Topics.eligibility, Topics.agreements, Topics.payoutProfiles];

/**
 * Before a rollover decides anything: wait (bounded by ROLLOVER_CATCH_UP_TIMEOUT_MS) until this service's consumer
 * group has processed every message already on the topics the decisions read, so an agreement or eligibility change
 * published just before the run is taken into account. It compares the group's committed offsets (committed only
 * after each message's effect) with the partitions' end offsets taken when the wait starts. False when it could not
 * tell in time: the rollover and the renewal reminders then decide nothing unless forced (waitOrRefuse), and the
 * tax-expiry follow-up (FollowExpiredTaxProfiles, on the profile events) waits for its next run. Provided by
 * EnrollmentsModule, which both use.
 */
@Injectable()
export class ConsumerCatchUp {
  private readonly logger = new Logger(ConsumerCatchUp.name);

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(MESSAGING_OPTIONS) private readonly options: MessagingOptions,
    private readonly work: BackgroundWork,
    private readonly ledger: ProcessedEventLedger,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {}

  async wait(topics: string[] = RENEWAL_INPUTS): Promise<boolean> {
    const timeoutMs = this.config.ROLLOVER_CATCH_UP_TIMEOUT_MS;
    if (timeoutMs <= 0) return true;
    const deadline = Date.now() + timeoutMs;
    const admin = this.kafka.admin();
    // Bounded as a whole: the client retries a request 10 times up to 5 s apart, so a broker that does not answer held
    // a rollover about 30 s before its 503, past this timeout and many a proxy's. Given up, the check's answer is not
    // waited for: it stops at its next step and disconnects its admin itself (a call it was in may have connected it
    // again). A second past the deadline: a broker that answers lets the check say itself that the group is behind.
    const gaveUp = { now: false };
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        gaveUp.now = true;
        this.logger.warn(`could not tell within ${timeoutMs} ms whether the consumer has caught up (the broker did not answer in time)`);
        resolve(false);
      }, timeoutMs + 1_000);
    });
    try {
      return await Promise.race([this.check(admin, topics, deadline, timeoutMs, gaveUp).finally(() => admin.disconnect().catch(() => undefined)), late]);
    } finally {
      clearTimeout(timer);
      if (gaveUp.now) await admin.disconnect().catch(() => undefined);
    }
  }

  private async check(admin: Admin, topics: string[], deadline: number, timeoutMs: number, gaveUp: { now: boolean }): Promise<boolean> {
    // The group that reads each topic: the service's, or a consumer of its own (ownConsumers).
    const groupId = (topic: string) => consumerGroupFor(this.options, topic);
    try {
      await admin.connect();
      const known = new Set(await admin.listTopics());
      const wanted = topics.filter((topic) => known.has(topic));
      const ends = await endOffsets(admin, wanted);
      for (;;) {
        if (gaveUp.now) return false;
        const behind = await partitionsBehind(admin, groupId, ends);
        if (behind.length === 0) return true;
        if (this.work.stopRequested) return false; // shutting down: the run stops before its first batch anyway
        if (Date.now() >= deadline) {
          this.logger.warn(`not caught up with ${behind.join(', ')} after ${timeoutMs} ms`);
          return false;
        }
        await sleep(100);
      }
    } catch (error) {
      if (!gaveUp.now) this.logger.warn(`could not check consumer lag (${(error as Error).message})`);
      return false;
    }
  }

  /**
   * wait(), and for a run not caught up and not forced, 503 `consumer-behind` before it decides anything: the same
   * request may succeed once the consumer has caught up (Retry-After), or with `force`. Caught up, a run is refused the
   * same way (503 `inputs-dead-lettered`) while one of the messages its decisions read was dead-lettered by this service
   * after a failure that might clear and not applied since (ProcessedEventLedger.unapplied): its offset is committed, yet
   * the views miss that fact. `what`: the run and what it did not do; `why`: why it may not on stale views. Whether it
   * was caught up with no such dead letter (false only when forced).
   */
  async waitOrRefuse({ force, what, why }: { force: boolean; what: string; why: string }): Promise<boolean> {
    const caughtUp = await this.wait();
    if (!caughtUp && !force) throw this.behind(what, why);
    if (!caughtUp) return false;
    const missing = await this.unappliedDeadLetters();
    if (missing.length === 0) return true;
    const listed = missing.slice(0, 5).map((letter) => `${letter.type} ${letter.eventId} of ${letter.topic}[${letter.partition}]@${letter.offset} (${letter.error.slice(0, 200)})`);
    this.logger.warn(`${missing.length} dead-lettered input(s) not applied since: ${listed.join('; ')}`);
    if (!force) throw this.deadLettered(what, why, missing, listed);
    return false;
  }

  /**
   * The messages of `topics` this service dead-lettered after a failure that might clear, and has not applied since:
   * recorded under the service's group id, as the ledger records applied events (also a consumer of its own's).
   */
  async unappliedDeadLetters(topics: string[] = RENEWAL_INPUTS): Promise<DeadLetteredEvent[]> {
    return this.ledger.unapplied([this.options.groupId ?? this.options.serviceName], topics);
  }

  private deadLettered(what: string, why: string, missing: DeadLetteredEvent[], listed: string[]): ProblemException {
    const topics = [...new Set(missing.map((letter) => letter.topic))];
    return new ProblemException(
      HttpStatus.SERVICE_UNAVAILABLE,
      'inputs-dead-lettered',
      'Inputs dead-lettered and not applied',
      `${what}: ${missing.length} message(s) of ${topics.join(', ')} were dead-lettered by this service after their retries ` +
        `and not applied since (${listed.join('; ')}${missing.length > listed.length ? '; ...' : ''}), and ${why}. ` +
        `Fix their cause and replay them (\`npm run dlq -- list ${topics[0]}\`, then \`replay\`; one its dead-letter topic no longer keeps: ` +
        `\`npm run dlq -- republish <topic> <partition:offset>\` from \`deadLetters\`), or run it with "force": true to decide on the views as they are.`,
      {
        // The oldest 20 (the count is in the detail): a bulk incident must not make the answer grow without bound.
        deadLetters: missing.slice(0, 20).map((letter) => ({
          topic: letter.topic,
          partition: letter.partition,
          offset: letter.offset,
          type: letter.type,
          eventId: letter.eventId,
          error: letter.error,
          failedAt: letter.failedAt.toISOString(),
        })),
      },
    ).retryAfter(this.config.ROLLOVER_RETRY_MS / 1000);
  }

  private behind(what: string, why: string): ProblemException {
    return new ProblemException(
      HttpStatus.SERVICE_UNAVAILABLE,
      'consumer-behind',
      'Not caught up with its inputs',
      `${what}: this service has not consumed every eligibility, agreement and profile event ` +
        `published before the run (or could not read its lag) within ${this.config.ROLLOVER_CATCH_UP_TIMEOUT_MS} ms, and ${why}. ` +
        'Run it again later, or with "force": true to decide on the views as they are.',
    ).retryAfter(this.config.ROLLOVER_RETRY_MS / 1000);
  }
}
