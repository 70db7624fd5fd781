import { Trace } from '@lib/messaging';
import { BackgroundWork, CONFIG, MAX_TIMER_MS } from '@lib/platform';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { NotificationConfig } from '../config';
import { ClaimedEmail, DeliverEmail } from './usecases/deliver-email.use-case';
import { withoutAddresses } from './mailer';

/**
 * The most emails the worker keeps track of in memory, queued (due) or waiting for a retry (a timer each). Past it, an
 * email is left in the database, where the claim scan finds it once due (it is then nobody's: orphaned): an SMTP
 * outage under load made every new and every failing email an entry here, without bound.
 */
export const MAX_TRACKED_EMAILS = 10_000;

/** Under load, free slots are filled once a quarter of them are free (see fill). */
const CLAIM_GROUP_DIVISOR = 4;
/** At shutdown, what an email in flight may take beyond its SMTP attempt: recording its outcome. */
const OUTCOME_WRITE_MS = 2_000;
/** What the rest of the shutdown keeps of SHUTDOWN_TIMEOUT_MS (consumers, outbox flush, database): 3 s, or a quarter of it. */
const SHUTDOWN_RESERVE_MS = 3_000;

/**
 * How long the worker waits at shutdown for the emails in flight: one silence of the SMTP server (NOTIFY_SMTP_TIMEOUT_MS
 * bounds each wait for it, not the whole attempt) and the outcome write (an attempt slower than that is sent again
 * after its lease), but no longer than the platform's SHUTDOWN_TIMEOUT_MS (after which
 * the process exits with 1) allows, keeping 3 s of it (a quarter of a shorter one) for the rest of the shutdown.
 */
export function deliveryShutdownWaitMs(config: Pick<NotificationConfig, 'SHUTDOWN_TIMEOUT_MS' | 'NOTIFY_SMTP_TIMEOUT_MS'>): number {
  const reserve = Math.min(SHUTDOWN_RESERVE_MS, Math.floor(config.SHUTDOWN_TIMEOUT_MS / 4));
  const wait = Math.min(config.NOTIFY_SMTP_TIMEOUT_MS + OUTCOME_WRITE_MS, config.SHUTDOWN_TIMEOUT_MS - reserve);
  return Math.max(0, Math.min(wait, MAX_TIMER_MS));
}

/**
 * The in-process email sender. It keeps up to NOTIFY_CONCURRENCY emails in flight, each claimed with a lease,
 * so a slow or failing message never holds up the others. It wakes up when messages are inserted (`kick()`),
 * when a retry falls due, and every NOTIFY_POLL_INTERVAL_MS for anything else (leases of a crashed instance,
 * messages inserted by another instance). Several instances can run side by side: the claim is atomic.
 */
@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(DeliveryWorker.name);
  private readonly inFlight = new Set<Promise<void>>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private poller?: NodeJS.Timeout;
  /** The fill() running, if any: at most one at a time. */
  private filling?: Promise<void>;
  private again = false;
  /**
   * Emails known to be due (created here, or whose retry time came), claimed by id, with the `attempts` they have
   * when nothing happened to them since (0 when just created): then the claim need not read them.
   */
  private readonly due = new Map<string, number>();
  /**
   * Look for due emails with the claim scan too (set at start and on every poll tick, until a scan finds nothing, or only an email due just now):
   * other instances' emails and expired leases. The next fill scans first, so that it runs at least once a tick
   * even while the emails known to be due fill every free slot.
   */
  private scan = true;
  private stopped = true;

  constructor(
    private readonly deliver: DeliverEmail,
    @Inject(CONFIG) private readonly config: NotificationConfig,
    private readonly work: BackgroundWork,
  ) {}

  /**
   * No new claims: stopped, or shutdown requested (SIGTERM: closeService asks before it stops the consumers, which may
   * take a while; the emails in flight get that time to finish, and nothing new starts meanwhile).
   */
  private get closing(): boolean {
    return this.stopped || this.work.stopRequested;
  }

  onApplicationBootstrap(): void {
    this.stopped = false;
    const wait = deliveryShutdownWaitMs(this.config);
    if (wait < this.config.NOTIFY_SMTP_TIMEOUT_MS + OUTCOME_WRITE_MS) {
      this.logger.warn(
        `SHUTDOWN_TIMEOUT_MS (${this.config.SHUTDOWN_TIMEOUT_MS}) leaves ${wait} ms at shutdown for the emails in flight, less than one SMTP ` +
          `server silence and its outcome write (NOTIFY_SMTP_TIMEOUT_MS ${this.config.NOTIFY_SMTP_TIMEOUT_MS} + ${OUTCOME_WRITE_MS}): one cut short is sent again after its lease`,
      );
    }
    this.poller = setInterval(() => {
      this.scan = true;
      this.kick();
    }, this.config.NOTIFY_POLL_INTERVAL_MS);
    this.poller.unref();
    this.kick();
  }

  /**
   * Stop claiming, and let the emails in flight finish and record their outcome before the database closes. A claim
   * in progress is waited for too: what it wins is given back (due at once, the attempt not counted) rather than
   * sent, and nothing starts after this began. The wait is bounded (`deliveryShutdownWaitMs`): an email still in an
   * SMTP exchange after it keeps its lease and is retried (with the same Message-ID) by the next instance once the
   * lease expires.
   */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poller);
    this.retryTimers.forEach(clearTimeout);
    this.retryTimers.clear();
    // Counted from when shutdown began (closeService asks first, then stops the consumers, which may take seconds),
    // so that the rest of the shutdown keeps its share of SHUTDOWN_TIMEOUT_MS.
    const since = this.work.stopRequestedAt ?? Date.now();
    const waitMs = Math.max(0, since + deliveryShutdownWaitMs(this.config) - Date.now());
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)));
    await Promise.race([this.drained(), deadline]);
    clearTimeout(timer);
    if (this.filling || this.inFlight.size > 0) {
      this.logger.warn(`stopping with ${this.inFlight.size} email(s) still in flight: each is retried once its lease expires`);
    }
  }

  /** Resolves once no fill() runs and no email is in flight (a fill that was claiming may have added some). */
  private async drained(): Promise<void> {
    while (this.filling || this.inFlight.size > 0) {
      await Promise.allSettled([this.filling, ...this.inFlight]);
    }
  }

  get busy(): number {
    return this.inFlight.size;
  }

  /**
   * These emails were just created (or fell due): claim them by id, without scanning. `attempts`: what they have
   * unless someone claimed them since (0 for new emails).
   */
  enqueue(ids: string[], attempts: number): void {
    for (const id of ids) {
      if (this.tracked >= MAX_TRACKED_EMAILS && !this.due.has(id)) break; // left to the scan (MAX_TRACKED_EMAILS)
      this.due.set(id, attempts);
    }
    this.kick();
  }

  /** Emails tracked in memory: queued, or waiting for their retry (at most MAX_TRACKED_EMAILS). */
  get tracked(): number {
    return this.due.size + this.retryTimers.size;
  }

  /** Look for due emails now. Concurrent kicks coalesce. */
  kick(): void {
    if (this.closing) return;
    if (this.filling) {
      this.again = true;
      return;
    }
    // Its failure's line too outside the trace of whoever kicked it.
    const filling = Trace.detached(() =>
      this.fill()
        .catch((error) => this.logger.warn(`claiming emails failed: ${(error as Error).message}; will retry`))
        .finally(() => {
          this.filling = undefined;
          if (this.again) {
            this.again = false;
            this.kick();
          }
        }),
    );
    this.filling = filling;
  }

  private async fill(): Promise<void> {
    const concurrency = this.config.NOTIFY_CONCURRENCY;
    const group = Math.max(1, Math.floor(concurrency / CLAIM_GROUP_DIVISOR));
    while (!this.closing) {
      const room = concurrency - this.inFlight.size;
      // Busy: wait until a group of slots is free and fill them together (one claim for the group, and their
      // recipients looked up with one query) rather than one by one as each send ends.
      if (room <= 0 || (room < group && this.inFlight.size > 0)) return;
      const claimed: ClaimedEmail[] = [];
      // The scan first: under sustained load the emails known to be due would take every free slot.
      if (this.scan) {
        const found = await this.deliver.claim();
        if (found) claimed.push(found);
        // On while it finds emails nobody is about to send: not queued here, and due for longer than two poll ticks
        // (queues lost to a restart, retries whose timers went with it, leases abandoned by a crash, claims that
        // failed), one per group of freed slots, so that a backlog of them is not starved by new emails queued here.
        // An email due just now is a new one, queued here or at another instance (claimed by id there): scanning
        // before every group would read the collection for each one of a burst, so the scan waits for the next poll
        // tick, as when it finds none.
        if (!found || !this.orphaned(found)) this.scan = false;
        if (found) this.due.delete(found._id);
        // Stopped while the claim ran: what it won goes back rather than out, since nobody waits for it any more.
        if (this.closing) return this.release(claimed);
      }
      const { won, failed } = await this.claimDue(room - claimed.length);
      claimed.push(...won);
      if (this.closing) return this.release(claimed);
      for (const email of claimed) this.start(email);
      if (failed) throw failed;
      if (claimed.length === 0 && this.due.size === 0) return;
    }
  }

  /** Found by the scan, not queued here, and due for longer than two poll ticks: nobody claimed it by id in time. */
  private orphaned(email: ClaimedEmail): boolean {
    const dueAt = email.nextAttemptAt ? +email.nextAttemptAt : 0;
    return !this.due.has(email._id) && Date.now() - dueAt > 2 * this.config.NOTIFY_POLL_INTERVAL_MS;
  }

  /** Gives back claims won after the stop: due again at once, their attempt not counted (another instance takes them). */
  private async release(claimed: ClaimedEmail[]): Promise<void> {
    if (claimed.length === 0) return;
    try {
      await this.deliver.release(claimed);
      this.logger.log(`stopping: gave back ${claimed.length} email(s) claimed as the worker stopped`);
    } catch (error) {
      this.logger.warn(`stopping: giving back ${claimed.length} claimed email(s) failed (${(error as Error).message}); retried once their lease expires`);
    }
  }

  /**
   * Up to `room` of the emails known to be due, claimed in groups of the same attempts. A claim that fails does not cost the others what they won; its emails are left to the scan (they are due,
   * or SENDING under a lease nobody holds if the failure hid a write, taken again once it expires).
   */
  private async claimDue(room: number): Promise<{ won: ClaimedEmail[]; failed?: unknown }> {
    const byAttempts = new Map<number, string[]>();
    let taken = 0;
    for (const [id, attempts] of this.due) {
      if (taken++ >= room) break;
      this.due.delete(id);
      if (byAttempts.has(attempts)) byAttempts.get(attempts)!.push(id);
      else byAttempts.set(attempts, [id]);
    }
    const claims = await Promise.allSettled([...byAttempts].map(([attempts, ids]) => this.deliver.claimManyById(ids, attempts)));
    const won = claims.flatMap((claim) => (claim.status === 'fulfilled' ? claim.value : []));
    const failed = claims.find((claim): claim is PromiseRejectedResult => claim.status === 'rejected')?.reason;
    return { won, failed };
  }

  private start(claimed: ClaimedEmail): void {
    const work: Promise<void> = this.deliver
      .execute(claimed)
      .then((outcome) => {
        if (outcome.status === 'RETRY') this.kickIn(outcome.retryInMs, claimed._id, claimed.attempts);
        if (outcome.status === 'CANCELLED' && outcome.due) this.enqueue(outcome.due, 0);
      })
      // In the email's trace (the correlation id of the event that caused it), as DeliverEmail's own lines.
      .catch((error) =>
        Trace.run({ correlationId: claimed.correlationId, causationId: claimed.causationEventId }, () =>
          this.logger.error(`delivering ${claimed._id} failed: ${withoutAddresses((error as Error).message)}`),
        ),
      )
      .finally(() => {
        this.inFlight.delete(work);
        this.kick();
      });
    this.inFlight.add(work);
  }

  private kickIn(ms: number, id: string, attempts: number): void {
    // Too many tracked already: the scan finds it once it is due (MAX_TRACKED_EMAILS).
    if (this.closing || this.tracked >= MAX_TRACKED_EMAILS) return;
    // Never above what a timer holds: Node fires a longer one after 1 ms (the claim would then find it not due).
    const timer = setTimeout(
      () => {
        this.retryTimers.delete(timer);
        this.enqueue([id], attempts);
      },
      Math.min(ms + 5, MAX_TIMER_MS),
    );
    timer.unref();
    this.retryTimers.add(timer);
  }
}
