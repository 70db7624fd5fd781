import { ConsumedEvent } from '@lib/messaging';
import { AccessEventsController, AccessViewUpdater, IdentityEventFollowers } from './access.view';

describe('AccessEventsController', () => {
  const event = { envelope: { type: 'RoleAssigned', data: { user: { userId: 'u1' } } } } as unknown as ConsumedEvent;

  function subject(apply: () => Promise<void>) {
    const steps: string[] = [];
    const followers = new IdentityEventFollowers();
    const controller = new AccessEventsController({ apply: async () => (await apply(), steps.push('view')) } as unknown as AccessViewUpdater, followers);
    return { steps, followers, controller };
  }

  it("runs the service's followers after the role view, one after the other", async () => {
    const { steps, followers, controller } = subject(async () => undefined);
    let running = 0;
    for (const name of ['first', 'second'])
      followers.add(async () => {
        running += 1;
        expect(running).toBe(1);
        await new Promise((resolve) => setTimeout(resolve, 5));
        steps.push(name);
        running -= 1;
      });
    await controller.onIdentityEvent(event);
    expect(steps).toEqual(['view', 'first', 'second']);
  });

  it('runs no follower when the role view fails (the retry runs them all again, in turn)', async () => {
    const { steps, followers, controller } = subject(async () => Promise.reject(new Error('not primary')));
    followers.add(async () => void steps.push('follower'));
    await expect(controller.onIdentityEvent(event)).rejects.toThrow('not primary');
    expect(steps).toEqual([]);
  });

  it('fails with the first follower that fails, without running the next', async () => {
    const { steps, followers, controller } = subject(async () => undefined);
    followers.add(async () => Promise.reject(new Error('busy')));
    followers.add(async () => void steps.push('second'));
    await expect(controller.onIdentityEvent(event)).rejects.toThrow('busy');
    expect(steps).toEqual(['view']);
  });
});
