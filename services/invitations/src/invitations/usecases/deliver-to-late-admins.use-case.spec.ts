import { DeliverToLateAdmins } from './deliver-to-late-admins.use-case';

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
      { currentEligibleDecisionIds: async () => [] } as never,
      { executeAll: async (ids: Iterable<string>) => void reconciled.push(...ids) } as never,
      { pendingAdminRequests: async () => (calls.push('look up pending invitations'), ['inv-1', 'inv-2']) } as never,
    );
    return { deliver, calls, reconciled };
  }
  const user = (roles: Array<{ role: string; locationIds: string[] }>, active = true) => ({ user: { userId: 'u1', partnerId: 'p1', active, roles } });

  it('applies the user to the view first, then reconciles every pending invitation of the partner', async () => {
    const { deliver, calls, reconciled } = handler();
    await deliver.execute('UserCreated', user([{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]));
    expect(calls).toEqual(['apply the user to the view', 'look up pending invitations']);
    expect(reconciled).toEqual(['inv-1', 'inv-2']);
  });

  it('does nothing of the kind for a user without a company role, or an inactive one', async () => {
    for (const event of [user([{ role: 'INCENTIVES_USER', locationIds: ['L1'] }]), user([{ role: 'ACCOUNT_ADMIN', locationIds: ['*'] }], false)]) {
      const { deliver, calls, reconciled } = handler();
      await deliver.execute('UserUpdated', event);
      expect(calls).not.toContain('look up pending invitations');
      expect(reconciled).toEqual([]);
    }
  });
});
