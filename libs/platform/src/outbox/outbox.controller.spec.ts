import type { OutboxRelay } from '@lib/messaging';
import { BackgroundWork } from '../lifecycle/background-work';
import { OutboxController } from './outbox.controller';

// An operator's requeue writes to every outbox collection: shutdown waits for it as for any background work, and
// once shutdown has begun none starts (503, retried elsewhere).
describe('OutboxController.requeue', () => {
  const result = { requeued: 2, tooLarge: 0, refusedByBroker: 0 };

  it('runs as tracked background work: shutdown waits for it', async () => {
    let finish!: () => void;
    const relay = { requeueParked: () => new Promise((resolve) => (finish = () => resolve(result))) } as unknown as OutboxRelay;
    const work = new BackgroundWork();
    const running = new OutboxController(relay, work).requeue({}, {} as never);
    let stopped = false;
    const shutdown = work.beforeApplicationShutdown().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stopped).toBe(false);
    finish();
    await expect(running).resolves.toEqual(result);
    await shutdown;
    expect(stopped).toBe(true);
  });

  it('starts none once shutdown has begun (503)', async () => {
    const requeueParked = jest.fn(async () => result);
    const work = new BackgroundWork();
    work.requestStop();
    await expect(new OutboxController({ requeueParked } as unknown as OutboxRelay, work).requeue({}, {} as never)).rejects.toMatchObject({ status: 503 });
    expect(requeueParked).not.toHaveBeenCalled();
  });
});
