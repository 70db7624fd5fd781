import { inAudience } from './recipient-directory';

describe('inAudience: whether a recipient still holds the role an email was addressed for', () => {
  const admin = (...locationIds: string[]) => ({ roles: [{ role: 'INCENTIVES_ADMIN' as const, locationIds }] });
  const ofL1 = { roles: ['INCENTIVES_ADMIN' as const], locationIds: ['L1'] };

  it.each([
    ['the role on the location', admin('L1'), ofL1, true],
    ['the role on every location (*)', admin('*'), ofL1, true],
    ['the role on another location only', admin('L2'), ofL1, false],
    ['another role on the location', { roles: [{ role: 'INCENTIVES_USER' as const, locationIds: ['L1'] }] }, ofL1, false],
    ['no role at all', { roles: [] }, ofL1, false],
    ['one of the locations a bank profile serves', admin('L3'), { roles: ['INCENTIVES_ADMIN' as const], locationIds: ['L2', 'L3'] }, true],
    ['any location, when the audience names none', admin('L9'), { roles: ['INCENTIVES_ADMIN' as const] }, true],
    ['a company admin, for the company admins', { roles: [{ role: 'ACCOUNT_ADMIN' as const, locationIds: ['*'] }] }, { roles: ['GLOBAL_ADMIN' as const, 'ACCOUNT_ADMIN' as const] }, true],
    ['an Incentives admin, for the company admins', admin('*'), { roles: ['GLOBAL_ADMIN' as const, 'ACCOUNT_ADMIN' as const] }, false],
  ])('%s -> %s', (_, user, audience, expected) => {
    expect(inAudience(user, audience)).toBe(expected);
  });
});
