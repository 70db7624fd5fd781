import { Trace } from '@lib/messaging';
import { BackgroundWork } from '@lib/platform';
import { CLAIM_GRACE_MS } from '../partners.repository';
import { CompletePartnerBootstrap } from './complete-partner-bootstrap.use-case';

// The sweep's timer (a pure unit test: the sweep itself runs against the database in partners-and-tokens.spec).
describe('CompletePartnerBootstrap: the sweep runs at start, then every CLAIM_GRACE_MS, until shutdown', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('finishes pending registrations and sweeps claims on each tick, and stops on shutdown', async () => {
    const pending = { _id: 'P1', pendingAdmin: { userId: 'u1', email: 'ga@example.com', displayName: 'Ada' } };
    const partners = {
      withPendingAdmin: jest.fn(async () => [pending]),
      sweepClaims: jest.fn(async () => []),
      clearPendingAdmin: jest.fn(async () => undefined),
    };
    const users = { find: jest.fn(async () => null), create: jest.fn(async () => undefined) };
    const bootstrap = new CompletePartnerBootstrap(partners as never, users as never, new BackgroundWork());

    await bootstrap.onApplicationBootstrap();
    expect(partners.withPendingAdmin).toHaveBeenCalledTimes(1);
    expect(partners.sweepClaims).toHaveBeenCalledTimes(1);

    await jest.advanceTimersByTimeAsync(CLAIM_GRACE_MS - 1);
    expect(partners.withPendingAdmin).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(partners.withPendingAdmin).toHaveBeenCalledTimes(2);
    expect(partners.sweepClaims).toHaveBeenCalledTimes(2);
    expect(users.create).toHaveBeenLastCalledWith(expect.objectContaining({ userId: 'u1', partnerId: 'P1', roles: [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }] }));
    expect(partners.clearPendingAdmin).toHaveBeenCalledWith('P1');

    bootstrap.onModuleDestroy();
    await jest.advanceTimersByTimeAsync(3 * CLAIM_GRACE_MS);
    expect(partners.withPendingAdmin).toHaveBeenCalledTimes(2);
  });

  it("writes a finished registration's first admin under the registration's ids; one recorded without them under the run's", async () => {
    const trace = { correlationId: 'c0ffee00-0000-4000-8000-000000000003', causationId: 'c0ffee00-0000-4000-8000-000000000004' };
    const partners = {
      withPendingAdmin: jest.fn(async () => [
        { _id: 'P1', pendingAdmin: { userId: 'u1', email: 'ga@example.com', displayName: 'Ada', trace } },
        { _id: 'P2', pendingAdmin: { userId: 'u2', email: 'gb@example.com', displayName: 'Bea' } },
      ]),
      sweepClaims: jest.fn(async () => []),
      clearPendingAdmin: jest.fn(async () => undefined),
    };
    const under = new Map<string, unknown>();
    const users = { find: jest.fn(async () => null), create: jest.fn(async (user: { userId: string }) => void under.set(user.userId, Trace.current())) };
    const bootstrap = new CompletePartnerBootstrap(partners as never, users as never, new BackgroundWork());
    await bootstrap.onApplicationBootstrap();
    bootstrap.onModuleDestroy();
    expect(under.get('u1')).toEqual(trace);
    expect(under.get('u2')).toEqual({ correlationId: expect.any(String), causationId: expect.any(String) });
    expect((under.get('u2') as { correlationId: string }).correlationId).not.toBe(trace.correlationId);
  });

  it('a failing tick is logged and the next one runs', async () => {
    const partners = {
      withPendingAdmin: jest.fn().mockRejectedValueOnce(new Error('database gone')).mockResolvedValue([]),
      sweepClaims: jest.fn(async () => []),
      clearPendingAdmin: jest.fn(),
    };
    const bootstrap = new CompletePartnerBootstrap(partners as never, {} as never, new BackgroundWork());
    const warned = jest.spyOn((bootstrap as unknown as { logger: { warn: (message: string) => void } }).logger, 'warn').mockImplementation(() => undefined);
    // The tick at start fails (logged, and the pass says so: its run is counted failed), claims still swept.
    await expect(bootstrap.sweep()).rejects.toThrow('pending partner registrations not finished: (the pending partners could not be read)');
    expect(warned).toHaveBeenCalledWith('could not read the pending partner registrations: database gone');
    expect(partners.sweepClaims).toHaveBeenCalledTimes(1);
    partners.withPendingAdmin.mockRejectedValueOnce(new Error('database gone'));
    await bootstrap.onApplicationBootstrap();
    expect(warned.mock.calls.filter(([message]) => message === 'could not read the pending partner registrations: database gone')).toHaveLength(2);
    const warnings = warned.mock.calls.length;
    // The next tick runs, and succeeds: nothing more logged.
    await jest.advanceTimersByTimeAsync(CLAIM_GRACE_MS);
    expect(partners.withPendingAdmin).toHaveBeenCalledTimes(3);
    expect(partners.sweepClaims).toHaveBeenCalledTimes(3);
    expect(warned).toHaveBeenCalledTimes(warnings);
    bootstrap.onModuleDestroy();
  });

  // SPEC 5: at shutdown finish in-flight work, flush the outbox, then close the database. A pass writing a first
  // admin then had its UserCreated committed after the relay's last flush, or failed as the database closed.
  it('never runs two passes at once; one running at shutdown is waited for, and stops before the next partner', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const admin = (id: string) => ({ _id: id, pendingAdmin: { userId: `u-${id}`, email: `ga@${id}.example`, displayName: 'Ada' } });
    const partners = {
      withPendingAdmin: jest.fn().mockResolvedValueOnce([]).mockResolvedValue([admin('P1'), admin('P2')]),
      sweepClaims: jest.fn(async () => []),
      clearPendingAdmin: jest.fn(async () => undefined),
    };
    const users = { find: jest.fn(async () => null), create: jest.fn().mockImplementationOnce(() => held).mockResolvedValue(undefined) };
    const work = new BackgroundWork();
    const bootstrap = new CompletePartnerBootstrap(partners as never, users as never, work);
    await bootstrap.onApplicationBootstrap();

    await jest.advanceTimersByTimeAsync(CLAIM_GRACE_MS); // a pass begins, and waits on P1's admin
    expect(users.create).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(CLAIM_GRACE_MS); // the next tick, while it runs
    expect(partners.withPendingAdmin).toHaveBeenCalledTimes(2);

    bootstrap.onModuleDestroy();
    let closed = false;
    const shutdown = work.beforeApplicationShutdown().then(() => (closed = true));
    await jest.advanceTimersByTimeAsync(1_000);
    expect(closed).toBe(false); // waited for
    release();
    await shutdown;
    expect(partners.clearPendingAdmin).toHaveBeenCalledWith('P1');
    expect(users.create).toHaveBeenCalledTimes(1); // P2 is left to the next start
  });
});
