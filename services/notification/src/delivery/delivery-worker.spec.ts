import type { TopicAdmin } from '@lib/messaging';
import type { NotificationConfig } from '../config';
import { DeliveryWorker } from './delivery-worker';
import type { ClaimedEmail, DeliverEmailUseCase, DeliveryOutcome } from './usecases/deliver-email.use-case';

/** A unit test of the worker's scheduling, with the use case replaced by a recorder (no database, no SMTP). */
class RecordingDelivery {
  readonly claims: string[][] = [];
  readonly sending = new Map<string, () => void>();
  readonly sent: string[] = [];

  async claimManyById(ids: string[], attempts: number): Promise<ClaimedEmail[]> {
    this.claims.push(ids);
    return ids.map((id) => ({ _id: id, attempts: attempts + 1, leaseToken: 't' }) as unknown as ClaimedEmail);
  }

  async claimById(id: string): Promise<ClaimedEmail | null> {
    return (await this.claimManyById([id], 0))[0];
  }

  async claim(): Promise<ClaimedEmail | null> {
    return null;
  }

  execute(email: ClaimedEmail): Promise<DeliveryOutcome> {
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

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

function worker(concurrency: number): { worker: DeliveryWorker; delivery: RecordingDelivery } {
  const delivery = new RecordingDelivery();
  const topics = { ensureTopics: async () => undefined } as unknown as TopicAdmin;
  const config = { NOTIFY_CONCURRENCY: concurrency, NOTIFY_POLL_INTERVAL_MS: 60_000 } as NotificationConfig;
  return { worker: new DeliveryWorker(delivery as unknown as DeliverEmailUseCase, topics, config), delivery };
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
});
