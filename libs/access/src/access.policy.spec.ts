import type { Model } from 'mongoose';
import { AccessPolicy, canView, holdsAnyRole, holdsRole, isCompanyAdmin, knownGrants } from './access.policy';
import type { AccessLocation } from './access.schemas';

const actor = (roles: Array<{ role: 'GLOBAL_ADMIN' | 'ACCOUNT_ADMIN' | 'INCENTIVES_ADMIN' | 'INCENTIVES_USER'; locationIds: string[] }>) => ({
  userId: 'u',
  partnerId: 'p',
  email: 'u@example.com',
  displayName: 'U',
  roles,
});

describe('access rules', () => {
  it.each([
    ['admin of A on A', [{ role: 'INCENTIVES_ADMIN' as const, locationIds: ['A'] }], 'A', true],
    ['admin of A on B', [{ role: 'INCENTIVES_ADMIN' as const, locationIds: ['A'] }], 'B', false],
    ['admin of * on B', [{ role: 'INCENTIVES_ADMIN' as const, locationIds: ['*'] }], 'B', true],
    ['user of A on A', [{ role: 'INCENTIVES_USER' as const, locationIds: ['A'] }], 'A', false],
    ['global admin on A', [{ role: 'GLOBAL_ADMIN' as const, locationIds: ['*'] }], 'A', false],
  ])('%s: holds INCENTIVES_ADMIN = %s', (_, roles, location, expected) => {
    expect(holdsRole(actor(roles), 'INCENTIVES_ADMIN', location)).toBe(expected);
  });

  it('lets company admins and incentive roles view, and nobody else', () => {
    expect(canView(actor([{ role: 'ACCOUNT_ADMIN', locationIds: ['*'] }]), 'A')).toBe(true);
    expect(canView(actor([{ role: 'INCENTIVES_USER', locationIds: ['A'] }]), 'A')).toBe(true);
    expect(canView(actor([{ role: 'INCENTIVES_USER', locationIds: ['A'] }]), 'B')).toBe(false);
    expect(canView(actor([]), 'A')).toBe(false);
    expect(isCompanyAdmin(actor([{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]))).toBe(true);
    expect(isCompanyAdmin(actor([{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }]))).toBe(false);
  });

  // A later identity may grant roles this version does not know: the view keeps them as they came; they give nothing.
  it('gives a role this version does not know nothing: no view, no "holds a role", left out of the actor', () => {
    const referrals = actor([{ role: 'REFERRALS_ADMIN' as never, locationIds: ['A'] }]);
    expect(holdsAnyRole(referrals)).toBe(false);
    expect(canView(referrals, 'A')).toBe(false);
    expect(knownGrants([{ role: 'REFERRALS_ADMIN', locationIds: ['A'] }, { role: 'INCENTIVES_USER', locationIds: ['A'] }])).toEqual([{ role: 'INCENTIVES_USER', locationIds: ['A'] }]);
    expect(holdsAnyRole(actor([{ role: 'INCENTIVES_USER', locationIds: ['A'] }]))).toBe(true);
  });
});

describe("a partner's location, as a request on its behalf reads it", () => {
  const stored: AccessLocation[] = [
    { _id: 'L-A', partnerId: 'A', country: 'US', legalName: 'Contoso US' },
    { _id: 'L-B', partnerId: 'B', country: 'DE', legalName: 'Fabrikam GmbH' },
  ];
  const model = (docs: AccessLocation[]) =>
    ({ find: ({ _id }: { _id: { $in: string[] } }) => ({ lean: () => ({ exec: async () => docs.filter((d) => _id.$in.includes(d._id)) }) }) }) as unknown as Model<AccessLocation>;
  const policy = new AccessPolicy({} as never, model(stored), {} as never);

  it("is the partner's own, or nothing: another partner's reads as unknown (its name is not shown)", async () => {
    expect(await policy.locationOf('A', 'L-A')).toMatchObject({ legalName: 'Contoso US' });
    expect(await policy.locationOf('A', 'L-B')).toBeUndefined();
    expect(await policy.locationOf('A', 'L-unknown')).toBeUndefined();
    expect(await policy.locationById('L-B')).toMatchObject({ partnerId: 'B' });
  });
});
