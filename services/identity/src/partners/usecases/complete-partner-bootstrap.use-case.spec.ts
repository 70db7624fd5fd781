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
    const bootstrap = new CompletePartnerBootstrap(partners as never, users as never);

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

    bootstrap.onApplicationShutdown();
    await jest.advanceTimersByTimeAsync(3 * CLAIM_GRACE_MS);
    expect(partners.withPendingAdmin).toHaveBeenCalledTimes(2);
  });

  it('a failing tick is logged and the next one runs', async () => {
    const partners = {
      withPendingAdmin: jest.fn().mockRejectedValueOnce(new Error('database gone')).mockResolvedValue([]),
      sweepClaims: jest.fn(async () => []),
      clearPendingAdmin: jest.fn(),
    };
    const bootstrap = new CompletePartnerBootstrap(partners as never, {} as never);
    await bootstrap.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(CLAIM_GRACE_MS);
    expect(partners.withPendingAdmin).toHaveBeenCalledTimes(2);
    expect(partners.sweepClaims).toHaveBeenCalledTimes(2);
    bootstrap.onApplicationShutdown();
  });
});
