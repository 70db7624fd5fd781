import { Trace } from '@lib/messaging';
import { BackgroundWork } from '@lib/platform';
import { Logger } from '@nestjs/common';
import type { NotificationConfig } from '../config';
import { DeliveryWorker, deliveryShutdownWaitMs, MAX_TRACKED_EMAILS } from './delivery-worker';
import type { ClaimedEmail, DeliverEmail, DeliveryOutcome } from './usecases/deliver-email.use-case';

/** A unit test of the worker's scheduling, with the use case replaced by a recorder (no database, no SMTP). */
class RecordingDelivery {
  readonly claims: string[][] = [];
  readonly sending = new Map<string, () => void>();
  readonly sent: string[] = [];
  /** Every email handed to execute(), in order. */
  readonly executed: string[] = [];
  readonly released: string[] = [];
  /** Calls of claim() (the scan for due emails nobody queued). */
  scans = 0;
  /** What the scan finds, one per call (a new email due now, or one due `dueAgoMs` ago); then nothing. */
  readonly scanFinds: Array<string | { id: string; dueAgoMs: number }> = [];
  /** While set, every claim waits for it (a claim in progress on the database). */
  hold?: Promise<void>;
  /** Claims of these ids fail (a database error). */
  readonly failing = new Set<string>();
  /** The outcome of every send when set: it ends at once with it. */
  outcome?: DeliveryOutcome;

  async claimManyById(ids: string[], attempts: number): Promise<ClaimedEmail[]> {
    this.claims.push(ids);
    await this.hold;
    const failing = ids.find((id) => this.failing.has(id));
    if (failing) throw new Error(`claim of ${failing} failed`);
    return ids.map((id) => claimed(id, attempts + 1));
  }

  async claim(): Promise<ClaimedEmail | null> {
    this.scans++;
    await this.hold;
    const found = this.scanFinds.shift();
    if (!found) return null;
    if (typeof found === 'string') return { ...claimed(found, 1), nextAttemptAt: new Date() } as ClaimedEmail;
    return { ...claimed(found.id, 1), nextAttemptAt: new Date(Date.now() - found.dueAgoMs) } as ClaimedEmail;
  }

  async release(emails: ClaimedEmail[]): Promise<void> {
    this.released.push(...emails.map((e) => e._id));
  }

  execute(email: ClaimedEmail): Promise<DeliveryOutcome> {
    this.executed.push(email._id);
    if (this.outcome) return Promise.resolve(this.outcome);
    return new Promise((resolve) =>
      this.sending.set(email._id, () => {
        this.sending.delete(email._id);
        this.sent.push(email._id);
        resolve({ status: 'SENT' });
      }),
    );
  }

  finish(count: number): void {
    [...this.sending.values()].slice(0, count).forEach((done) => done());
  }
}

const claimed = (id: string, attempts: number) => ({ _id: id, attempts, leaseToken: 't' }) as unknown as ClaimedEmail;

const settle = (ms = 10) => new Promise((resolve) => setTimeout(resolve, ms));

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function worker(concurrency: number, settings: Partial<NotificationConfig> = {}): { worker: DeliveryWorker; delivery: RecordingDelivery; work: BackgroundWork } {
  const delivery = new RecordingDelivery();
  const work = new BackgroundWork();
  const config = {
    NOTIFY_CONCURRENCY: concurrency,
    NOTIFY_POLL_INTERVAL_MS: 60_000,
    NOTIFY_SMTP_TIMEOUT_MS: 15_000,
    SHUTDOWN_TIMEOUT_MS: 20_000,
    ...settings,
  } as NotificationConfig;
  return { worker: new DeliveryWorker(delivery as unknown as DeliverEmail, config, work), delivery, work };
}

describe('DeliveryWorker', () => {
  it('fills every free slot with one claim, then, busy, waits for a quarter of the slots to free and claims them together', async () => {
    const { worker: w, delivery } = worker(8);
    w.onApplicationBootstrap();
    w.enqueue(Array.from({ length: 20 }, (_, i) => `m${i}`), 0);
    await settle();
    expect(delivery.claims.map((c) => c.length)).toEqual([8]);
    expect(w.busy).toBe(8);

    delivery.finish(1);
    await settle();
    expect(delivery.claims.map((c) => c.length)).toEqual([8]); // one slot free: less than a group (2)
    expect(w.busy).toBe(7);

    delivery.finish(1);
    await settle();
    expect(delivery.claims.map((c) => c.length)).toEqual([8, 2]);
    expect(w.busy).toBe(8);

    while (delivery.sending.size) {
      delivery.finish(delivery.sending.size);
      await settle();
    }
    expect(delivery.sent.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
    expect(delivery.claims.flat()).toHaveLength(20);
    await w.onModuleDestroy();
  });

  it('claims a single new email at once when the worker is idle', async () => {
    const { worker: w, delivery } = worker(16);
    w.onApplicationBootstrap();
    w.enqueue(['only'], 0);
    await settle();
    expect(delivery.claims).toEqual([['only']]);
    delivery.finish(1);
    await settle();
    expect(delivery.sent).toEqual(['only']);
    await w.onModuleDestroy();
  });

  it("says a delivery that failed in the email's trace: the correlation id of the event that caused it", async () => {
    const { worker: w, delivery } = worker(16);
    delivery.execute = async () => Promise.reject(new Error('outcome write failed'));
    delivery.claimManyById = async (ids: string[]) => ids.map((id) => ({ ...claimed(id, 1), correlationId: 'c0ffee00-0000-4000-8000-000000000001', causationEventId: 'e' }) as ClaimedEmail);
    const said: Array<{ message: string; in?: string }> = [];
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown) => void said.push({ message: String(message), in: Trace.current()?.correlationId }));
    try {
      w.onApplicationBootstrap();
      w.enqueue(['failing'], 0);
      await settle();
      expect(said).toEqual([{ message: 'delivering failing failed: outcome write failed', in: 'c0ffee00-0000-4000-8000-000000000001' }]);
    } finally {
      error.mockRestore();
      await w.onModuleDestroy();
    }
  });

  it("says a failed claim outside the trace of the handler that woke the worker: the claim is for every email due", async () => {
    const { worker: w, delivery } = worker(16);
    delivery.failing.add('woken');
    const said: Array<{ message: string; in?: string }> = [];
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void said.push({ message: String(message), in: Trace.current()?.correlationId }));
    try {
      w.onApplicationBootstrap();
      await settle(); // its scan at start done: the handler's enqueue kicks the claim itself
      Trace.run({ correlationId: 'c0ffee00-0000-4000-8000-000000000002', causationId: 'handler' }, () => w.enqueue(['woken'], 0));
      await settle();
      expect(said).toEqual([{ message: expect.stringContaining('claiming emails failed: claim of woken failed'), in: undefined }]);
    } finally {
      warn.mockRestore();
      await w.onModuleDestroy();
    }
  });

  it('claims nothing once shutdown is requested (SIGTERM, before the consumers stop), while the emails in flight finish', async () => {
    const { worker: w, delivery, work } = worker(4);
    w.onApplicationBootstrap();
    w.enqueue(['a'], 0);
    await settle();
    expect(delivery.claims).toEqual([['a']]);
    work.requestStop();
    w.enqueue(['b', 'c'], 0); // created by the last messages the consumers finish
    await settle();
    expect(delivery.claims).toEqual([['a']]);
    delivery.finish(1);
    await settle();
    expect(delivery.sent).toEqual(['a']);
    await w.onModuleDestroy();
    expect(delivery.claims).toEqual([['a']]);
  });

  it('at shutdown, releases what a claim in progress wins instead of sending it, and returns once that is done', async () => {
    const { worker: w, delivery } = worker(4);
    w.onApplicationBootstrap();
    await settle(); // the first scan found nothing
    const claim = deferred();
    delivery.hold = claim.promise;
    w.enqueue(['a', 'b'], 0);
    await settle();
    expect(delivery.claims).toEqual([['a', 'b']]);

    let stopped = false;
    const stopping = w.onModuleDestroy().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false); // the claim in progress may still win emails: wait for it
    claim.resolve();
    await stopping;
    expect(delivery.executed).toEqual([]);
    expect(delivery.released).toEqual(['a', 'b']);
    expect(w.busy).toBe(0);
  });

  it('at shutdown, releases what a scan in progress wins instead of sending it', async () => {
    const { worker: w, delivery } = worker(4);
    const scan = deferred();
    delivery.hold = scan.promise;
    delivery.scanFinds.push('abandoned');
    w.onApplicationBootstrap();
    await settle();
    expect(delivery.scans).toBe(1);

    const stopping = w.onModuleDestroy();
    scan.resolve();
    await stopping;
    expect(delivery.executed).toEqual([]);
    expect(delivery.released).toEqual(['abandoned']);
  });

  it('at shutdown, waits for the emails in flight to record their outcome, however many', async () => {
    const { worker: w, delivery } = worker(4);
    w.onApplicationBootstrap();
    w.enqueue(['a', 'b', 'c'], 0);
    await settle();
    expect(w.busy).toBe(3);
    let stopped = false;
    const stopping = w.onModuleDestroy().then(() => (stopped = true));
    delivery.finish(1);
    await settle();
    expect(stopped).toBe(false);
    delivery.finish(2);
    await stopping;
    expect(delivery.sent.sort()).toEqual(['a', 'b', 'c']);
    expect(delivery.claims).toEqual([['a', 'b', 'c']]); // nothing claimed after the stop
  });

  it('waits at shutdown as long as an SMTP attempt and its outcome write take, within the platform\'s SHUTDOWN_TIMEOUT_MS', () => {
    const wait = (SHUTDOWN_TIMEOUT_MS: number, NOTIFY_SMTP_TIMEOUT_MS: number) =>
      deliveryShutdownWaitMs({ SHUTDOWN_TIMEOUT_MS, NOTIFY_SMTP_TIMEOUT_MS } as NotificationConfig);
    expect(wait(20_000, 15_000)).toBe(17_000); // the defaults: the attempt, 2 s for the write, 3 s left for the rest
    expect(wait(60_000, 15_000)).toBe(17_000);
    expect(wait(60_000, 40_000)).toBe(42_000);
    expect(wait(10_000, 15_000)).toBe(7_500); // a quarter of a short budget left for the rest of the shutdown
    expect(wait(2 ** 40, 2 ** 31 - 1)).toBe(2 ** 31 - 1); // never more than a timer holds
  });

  it('gives up waiting for a send that hangs once that wait is over (not after a fixed 10 s)', async () => {
    const { worker: w, delivery } = worker(4, { SHUTDOWN_TIMEOUT_MS: 400, NOTIFY_SMTP_TIMEOUT_MS: 50 });
    w.onApplicationBootstrap();
    w.enqueue(['stuck'], 0);
    await settle();
    expect(delivery.sending.has('stuck')).toBe(true);
    const started = Date.now();
    await w.onModuleDestroy();
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(250); // 400 - 100
    // Half the fixed 10 s: the rest is margin for a loaded machine (the wait itself is 300 ms).
    expect(waited).toBeLessThan(5_000);
  });

  // Stopping the consumers comes first and may take seconds: the wait is counted from when shutdown began, so that the
  // rest of the shutdown keeps its share of SHUTDOWN_TIMEOUT_MS.
  it('counts its wait from when shutdown began, not from when the worker is told', async () => {
    const { worker: w, delivery, work } = worker(4, { SHUTDOWN_TIMEOUT_MS: 2_000, NOTIFY_SMTP_TIMEOUT_MS: 1_000 }); // a 1.5 s wait
    w.onApplicationBootstrap();
    w.enqueue(['stuck'], 0);
    await settle();
    expect(delivery.sending.has('stuck')).toBe(true);
    const shutdownBegan = Date.now();
    work.requestStop();
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // the consumers take a second to stop
    const started = Date.now();
    await w.onModuleDestroy();
    const waited = Date.now() - started;
    expect(waited).toBeLessThan(1_000); // what is left of the 1.5 s, not all of it again
    // The whole 1.5 s from when shutdown began (however late the second's timer fired), not less.
    expect(Date.now() - shutdownBegan).toBeGreaterThanOrEqual(1_490);
  });

  it('never arms a retry timer above 2^31-1 ms (Node would fire it after 1 ms)', async () => {
    const { worker: w, delivery } = worker(4);
    delivery.outcome = { status: 'RETRY', retryInMs: 2 ** 31 - 1 };
    w.onApplicationBootstrap();
    w.enqueue(['later'], 0);
    await settle(50);
    expect(delivery.executed).toEqual(['later']);
    expect(delivery.claims).toEqual([['later']]);
    await w.onModuleDestroy();
  });

  // An SMTP outage under load: every email created, and every one failing, would otherwise be an entry (and a timer) here.
  it('tracks at most MAX_TRACKED_EMAILS emails in memory (queued or waiting for a retry); the others are left to the scan', async () => {
    const queued = worker(1);
    queued.worker.onApplicationBootstrap();
    queued.worker.enqueue(Array.from({ length: MAX_TRACKED_EMAILS + 5_000 }, (_, i) => `q${i}`), 0);
    await settle();
    expect(queued.worker.tracked).toBeLessThanOrEqual(MAX_TRACKED_EMAILS);
    expect(queued.worker.tracked).toBeGreaterThan(MAX_TRACKED_EMAILS - 10);
    queued.delivery.outcome = { status: 'SENT' };
    queued.delivery.finish(1);
    await queued.worker.onModuleDestroy();

    // Every tracked email failing (a retry timer each), then more found by the scan failing too: no timer for those.
    const retrying = worker(2 * MAX_TRACKED_EMAILS);
    retrying.delivery.outcome = { status: 'RETRY', retryInMs: 60_000 };
    retrying.delivery.scanFinds.push({ id: 'found-1', dueAgoMs: 600_000 }, { id: 'found-2', dueAgoMs: 600_000 });
    retrying.worker.onApplicationBootstrap();
    retrying.worker.enqueue(Array.from({ length: MAX_TRACKED_EMAILS }, (_, i) => `r${i}`), 0);
    await settle(200);
    expect(retrying.delivery.executed).toEqual(expect.arrayContaining(['found-1', 'found-2', 'r0', `r${MAX_TRACKED_EMAILS - 1}`]));
    expect(retrying.worker.tracked).toBe(MAX_TRACKED_EMAILS);
    await retrying.worker.onModuleDestroy();
  });

  it('starts what a group of claims won although another claim of the group failed', async () => {
    const { worker: w, delivery } = worker(8);
    w.enqueue(['a', 'b'], 0); // one claim for both
    w.enqueue(['x'], 2); // a retry: a claim of its own, which fails
    delivery.failing.add('x');
    w.onApplicationBootstrap();
    await settle();
    expect(delivery.claims).toEqual(expect.arrayContaining([['a', 'b'], ['x']]));
    expect([...delivery.sending.keys()].sort()).toEqual(['a', 'b']);
    expect(w.busy).toBe(2);
    delivery.finish(2);
    await settle();
    await w.onModuleDestroy();
  });

  it('scans for due emails nobody queued at least once per poll tick, also while queued emails fill every slot', async () => {
    const { worker: w, delivery } = worker(4, { NOTIFY_POLL_INTERVAL_MS: 30 });
    w.enqueue(Array.from({ length: 500 }, (_, i) => `m${i}`), 0);
    delivery.scanFinds.push('abandoned');
    w.onApplicationBootstrap();
    await settle();
    expect(delivery.scans).toBeGreaterThanOrEqual(1);
    expect(delivery.executed).toContain('abandoned');
    const scansBefore = delivery.scans;
    // Sustained load: every slot freed is filled again at once from the queue.
    for (let i = 0; i < 20; i++) {
      delivery.finish(delivery.sending.size);
      await settle();
    }
    expect(delivery.scans - scansBefore).toBeGreaterThanOrEqual(3); // about 200 ms: 6 ticks
    expect(delivery.claims.flat().length).toBeLessThan(500); // the queue never ran dry
    const stopping = w.onModuleDestroy();
    delivery.finish(delivery.sending.size);
    await stopping;
  });

  it('scans at most once per poll tick while emails are queued, even when every scan finds one (a burst)', async () => {
    const { worker: w, delivery } = worker(4, { NOTIFY_POLL_INTERVAL_MS: 60_000 });
    w.enqueue(Array.from({ length: 500 }, (_, i) => `m${i}`), 0);
    // In a burst the scan finds emails too: new ones (due just now), queued here or at another instance.
    delivery.scanFinds.push(...Array.from({ length: 250 }, (_, i) => [`other-instance${i}`, `m${499 - i}`]).flat());
    w.onApplicationBootstrap();
    await settle();
    for (let i = 0; i < 20; i++) {
      delivery.finish(delivery.sending.size);
      await settle();
    }
    // One tick (the first): one scan, not one before every group of freed slots.
    expect(delivery.scans).toBe(1);
    expect(delivery.claims.flat().length).toBeGreaterThan(40); // the queue kept the slots busy
    // The one it found was not claimed again by id.
    expect(delivery.claims.flat()).not.toContain('m499');
    const stopping = w.onModuleDestroy();
    delivery.finish(delivery.sending.size);
    await stopping;
  });

  it('keeps scanning while it finds emails nobody queued (a backlog after a restart), one per group of freed slots, under sustained load', async () => {
    const { worker: w, delivery } = worker(4, { NOTIFY_POLL_INTERVAL_MS: 60_000 });
    w.enqueue(Array.from({ length: 500 }, (_, i) => `m${i}`), 0);
    // Emails whose queue a restart lost (never attempted), retries whose timers went with it, abandoned leases: due
    // for minutes, and only the scan finds them.
    delivery.scanFinds.push(...Array.from({ length: 10 }, (_, i) => ({ id: `backlog${i}`, dueAgoMs: 600_000 + i * 1_000 })));
    w.onApplicationBootstrap();
    await settle();
    for (let i = 0; i < 20; i++) {
      delivery.finish(delivery.sending.size);
      await settle();
    }
    // Within one poll tick the whole backlog went out, alongside the queued emails, and the scan stopped once empty.
    expect(delivery.executed.filter((id) => id.startsWith('backlog'))).toHaveLength(10);
    expect(delivery.scans).toBe(11);
    expect(delivery.claims.flat().length).toBeGreaterThan(40);
    const stopping = w.onModuleDestroy();
    delivery.finish(delivery.sending.size);
    await stopping;
  });
});
