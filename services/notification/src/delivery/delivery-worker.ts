import { TopicAdmin } from '@lib/messaging';
import { CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Topics } from '@lib/contracts';
import type { NotificationConfig } from '../config';
import { DELIVERY_DLQ_TOPIC } from './dead-letter';
import { ClaimedEmail, DeliverEmailUseCase } from './usecases/deliver-email.use-case';

const SHUTDOWN_WAIT_MS = 10_000;
/** Under load, free slots are filled once a quarter of them are free (see fill). */
const CLAIM_GROUP_DIVISOR = 4;

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
  private filling = false;
  private again = false;
  /**
   * Emails known to be due (created here, or whose retry time came), claimed by id before any scan, with the
   * `attempts` they have when nothing happened to them since (0 when just created): then the claim need not read them.
   */
  private readonly due = new Map<string, number | undefined>();
  /** Look for due emails with the claim scan too (poll interval, start): other instances' and expired leases. */
  private scan = true;
  private stopped = true;

  constructor(
    private readonly deliver: DeliverEmailUseCase,
    private readonly topics: TopicAdmin,
    @Inject(CONFIG) private readonly config: NotificationConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.stopped = false;
    this.poller = setInterval(() => {
      this.scan = true;
      this.kick();
    }, this.config.NOTIFY_POLL_INTERVAL_MS);
    this.poller.unref();
    void this.ensureTopics();
    this.kick();
  }

  /**
   * Stop claiming, and let the emails in flight finish and record their outcome before the database closes.
   * The wait is bounded: an email still in an SMTP exchange after it keeps its lease and is retried (with the same
   * Message-ID) by the next instance once the lease expires.
   */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poller);
    this.retryTimers.forEach(clearTimeout);
    this.retryTimers.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }

  get busy(): number {
    return this.inFlight.size;
  }

  /**
   * These emails were just created (or fell due): claim them by id, without scanning. `attempts`: what they have
   * unless someone claimed them since (0 for new emails); unknown, the claim reads them first.
   */
  enqueue(ids: string[], attempts?: number): void {
    for (const id of ids) this.due.set(id, attempts);
    this.kick();
  }

  /** Look for due emails now. Concurrent kicks coalesce. */
  kick(): void {
    if (this.stopped) return;
    if (this.filling) {
      this.again = true;
      return;
    }
    this.filling = true;
    this.fill()
      .catch((error) => this.logger.warn(`claiming emails failed: ${(error as Error).message}; will retry`))
      .finally(() => {
        this.filling = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async fill(): Promise<void> {
    const concurrency = this.config.NOTIFY_CONCURRENCY;
    const group = Math.max(1, Math.floor(concurrency / CLAIM_GROUP_DIVISOR));
    while (!this.stopped) {
      const room = concurrency - this.inFlight.size;
      // Busy: wait until a group of slots is free and fill them together (one claim for the group, and their
      // recipients looked up with one query) rather than one by one as each send ends.
      if (room <= 0 || (room < group && this.inFlight.size > 0)) return;
      const claimed = await this.claimDue(room);
      if (claimed.length === 0 && this.scan) {
        const found = await this.deliver.claim();
        if (found) claimed.push(found);
        else this.scan = false;
      }
      if (claimed.length === 0 && this.due.size === 0) return;
      for (const email of claimed) this.start(email);
    }
  }

  /** Up to `room` of the emails known to be due: those whose attempts are known claimed in groups, the others one by one. */
  private async claimDue(room: number): Promise<ClaimedEmail[]> {
    const known = new Map<number, string[]>();
    const unknown: string[] = [];
    let taken = 0;
    for (const [id, attempts] of this.due) {
      if (taken++ >= room) break;
      this.due.delete(id);
      if (attempts === undefined) unknown.push(id);
      else if (known.has(attempts)) known.get(attempts)!.push(id);
      else known.set(attempts, [id]);
    }
    const claims = await Promise.all([
      ...[...known].map(([attempts, ids]) => this.deliver.claimManyById(ids, attempts)),
      ...unknown.map(async (id) => {
        const claimed = await this.deliver.claimById(id);
        return claimed ? [claimed] : [];
      }),
    ]);
    return claims.flat();
  }

  private start(claimed: ClaimedEmail): void {
    const work: Promise<void> = this.deliver
      .execute(claimed)
      .then((outcome) => {
        if (outcome.status === 'RETRY') this.kickIn(outcome.retryInMs, claimed._id, claimed.attempts);
      })
      .catch((error) => this.logger.error(`delivering ${claimed._id} failed: ${(error as Error).message}`))
      .finally(() => {
        this.inFlight.delete(work);
        this.kick();
      });
    this.inFlight.add(work);
  }

  private kickIn(ms: number, id: string, attempts: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.enqueue([id], attempts);
    }, ms + 5);
    timer.unref();
    this.retryTimers.add(timer);
  }

  /** The topics this service writes, so the relay never waits on auto-creation (or fails where it is off). */
  private async ensureTopics(): Promise<void> {
    let delay = 500;
    while (!this.stopped) {
      try {
        await this.topics.ensureTopics([Topics.notifications, DELIVERY_DLQ_TOPIC]);
        return;
      } catch (error) {
        this.logger.warn(`cannot create topics yet (${(error as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }
}
