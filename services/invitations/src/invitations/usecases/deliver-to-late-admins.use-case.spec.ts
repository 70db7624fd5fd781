import { ViewsRepository } from '../views/views.repository';
import { DeliverToLateAdmins } from './deliver-to-late-admins.use-case';

/** A date in FY27; prog-1 takes enrollments in FY27, prog-2 is closed. */
const clock = { now: () => new Date('2026-12-01T12:00:00Z') } as never;
const programs = new Map([
  ['prog-1', { _id: 'prog-1', state: 'OPEN', fiscalYear: 'FY27' }],
  ['prog-2', { _id: 'prog-2', state: 'CLOSED', fiscalYear: 'FY27' }],
]);
/** The views repository's own filter (enrollableAt), on these programs. */
const views = {
  enrollableAt: (rows: Array<{ _id: string; programId: string; fiscalYear: string }>, now: Date) =>
    ViewsRepository.prototype.enrollableAt.call({ programsById: async () => programs } as never, rows, now),
  currentFiscalYears: async () => ['FY27'],
} as never;

/**
 * The handler half of the wake-up for waiting invitations whose request to assign an admin is pending: the company
 * admin's user is applied to the role view before the pending invitations are looked up (the reconcile half reads the
 * view again after writing one pending: one of the two sees the other). A unit test of the order, with recorders.
 */
describe('DeliverToLateAdmins: a Global or Account admin becoming known', () => {
  function handler() {
    const calls: string[] = [];
    const reconciled: string[] = [];
    const deliver = new DeliverToLateAdmins(
      { apply: async () => void calls.push('apply the user to the view') } as never,
      { user: async () => null } as never,
      views,
      { executeAll: async (ids: Iterable<string>) => void reconciled.push(...ids) } as never,
      {
        notAsking: async (partnerId: string, userId: string, years: string[]) => (
          calls.push(`look up the invitations of ${partnerId} not asking ${userId} in ${years.join(', ')}`),
          [
            { _id: 'inv-1', programId: 'prog-1', fiscalYear: 'FY27' },
            { _id: 'inv-2', programId: 'prog-1', fiscalYear: 'FY27' },
            { _id: 'inv-past', programId: 'prog-1', fiscalYear: 'FY26' },
            { _id: 'inv-closed', programId: 'prog-2', fiscalYear: 'FY27' },
          ]
        ),
      } as never,
      clock,
    );
    return { deliver, calls, reconciled };
  }
  const user = (roles: Array<{ role: string; locationIds: string[] }>, active = true) => ({ user: { userId: 'u1', partnerId: 'p1', active, roles } });

  it("applies the user to the view first, then reconciles the partner's waiting invitations that did not ask them, of an open program's current year", async () => {
    const { deliver, calls, reconciled } = handler();
    await deliver.execute('UserCreated', user([{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]));
    expect(calls).toEqual(['apply the user to the view', 'look up the invitations of p1 not asking u1 in FY27']);
    expect(reconciled).toEqual(['inv-1', 'inv-2']);
  });

  it('does nothing of the kind for a user without a company role, or an inactive one', async () => {
    for (const event of [user([{ role: 'INCENTIVES_USER', locationIds: ['L1'] }]), user([{ role: 'ACCOUNT_ADMIN', locationIds: ['*'] }], false)]) {
      const { deliver, calls, reconciled } = handler();
      await deliver.execute('UserUpdated', event);
      expect(calls).toEqual([]);
      expect(reconciled).toEqual([]);
    }
  });
});

describe('DeliverToLateAdmins: a user holding the Incentives admin role', () => {
  function handler(open: Array<{ _id: string; programId: string; fiscalYear: string }>) {
    const asked: Array<{ userId: string; partnerId: string; locations: string[] | null; years: string[] }> = [];
    const reconciled: string[] = [];
    const admin = { _id: 'u1', partnerId: 'p1', active: true, roles: [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }] };
    const deliver = new DeliverToLateAdmins(
      { apply: async () => undefined } as never,
      { user: async () => admin } as never,
      views,
      { executeAll: async (ids: Iterable<string>) => void reconciled.push(...ids) } as never,
      {
        deliverableTo: async (userId: string, partnerId: string, locations: string[] | null, years: string[]) => (asked.push({ userId, partnerId, locations, years }), open),
        notAsking: async () => [],
      } as never,
      clock,
    );
    const event = { user: { userId: 'u1', partnerId: 'p1', active: true, roles: admin.roles } };
    return { deliver, asked, reconciled, event };
  }

  it("reconciles only the invitations it may deliver to the user (their locations, `*`: all), of an open program's current year", async () => {
    const { deliver, asked, reconciled, event } = handler([
      { _id: 'current', programId: 'prog-1', fiscalYear: 'FY27' },
      { _id: 'past-year', programId: 'prog-1', fiscalYear: 'FY26' },
      { _id: 'unknown-program', programId: 'prog-9', fiscalYear: 'FY27' },
      { _id: 'closed-program', programId: 'prog-2', fiscalYear: 'FY27' },
    ]);
    await deliver.execute('UserUpdated', event);
    // Asked for the current years of the programs taking enrollments only (past years' are not read).
    expect(asked).toEqual([{ userId: 'u1', partnerId: 'p1', locations: null, years: ['FY27'] }]);
    expect(reconciled).toEqual(['current']);
  });
});
