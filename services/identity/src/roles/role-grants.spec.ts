import { grantKeys, grantsRole } from '@lib/contracts';
import { assignRole, normalizeLocations, revokeRole, Grant } from './role-grants';

const admin = (...locationIds: string[]): Grant => ({ role: 'INCENTIVES_ADMIN', locationIds });
const user = (...locationIds: string[]): Grant => ({ role: 'INCENTIVES_USER', locationIds });

describe('normalizeLocations', () => {
  it('de-duplicates and sorts, and * absorbs the rest', () => {
    expect(normalizeLocations(['L2', 'L1', 'L2'])).toEqual(['L1', 'L2']);
    expect(normalizeLocations(['L1', '*'])).toEqual(['*']);
  });
});

describe('assignRole', () => {
  it.each<[string, Grant[], string[], Grant[], string[]]>([
    ['grants a new role', [], ['L1'], [admin('L1')], ['L1']],
    ['merges new locations into the held ones', [admin('L2')], ['L1', 'L2', 'L3'], [admin('L1', 'L2', 'L3')], ['L1', 'L3']],
    ['changes nothing when every location is held', [admin('L1', 'L2')], ['L2', 'L1'], [admin('L1', 'L2')], []],
    ['changes nothing when the role is held on *', [admin('*')], ['L9'], [admin('*')], []],
    ['replaces a list with *', [admin('L1')], ['*'], [admin('*')], ['*']],
    ['keeps other roles, in vocabulary order', [user('L1')], ['L1'], [admin('L1'), user('L1')], ['L1']],
  ])('%s', (_, roles, locationIds, expected, changed) => {
    expect(assignRole(roles, 'INCENTIVES_ADMIN', locationIds)).toEqual({ roles: expected, changed });
  });

  it('grants company roles on * only', () => {
    expect(assignRole([], 'ACCOUNT_ADMIN', ['L1'])).toEqual({ roles: [{ role: 'ACCOUNT_ADMIN', locationIds: ['*'] }], changed: ['*'] });
    expect(assignRole([{ role: 'ACCOUNT_ADMIN', locationIds: ['*'] }], 'ACCOUNT_ADMIN', ['*']).changed).toEqual([]);
  });

  it('does not modify its input', () => {
    const roles = [admin('L1')];
    assignRole(roles, 'INCENTIVES_ADMIN', ['L2']);
    expect(roles).toEqual([admin('L1')]);
  });
});

describe('revokeRole', () => {
  it.each<[string, Grant[], string[], Grant[], string[]]>([
    ['removes some locations', [admin('L1', 'L2', 'L3')], ['L3', 'L1'], [admin('L2')], ['L1', 'L3']],
    ['removes the role with its last location', [admin('L1'), user('L1')], ['L1'], [user('L1')], ['L1']],
    ['removes the role with *, reporting what was held', [admin('L1', 'L2')], ['*'], [], ['L1', 'L2']],
    ['removes a role held on * with *', [admin('*')], ['*'], [], ['*']],
    ['changes nothing for locations not held', [admin('L1')], ['L2'], [admin('L1')], []],
    ['changes nothing for a role not held', [user('L1')], ['L1'], [user('L1')], []],
  ])('%s', (_, roles, locationIds, expected, changed) => {
    expect(revokeRole(roles, 'INCENTIVES_ADMIN', locationIds)).toEqual({ roles: expected, changed });
  });

  it("leaves a role held on * on the partner's other locations when some are revoked, in one change", () => {
    expect(revokeRole([admin('*'), user('L1')], 'INCENTIVES_ADMIN', ['L1'], ['L3', 'L1', 'L2'])).toEqual({ roles: [admin('L2', 'L3'), user('L1')], changed: ['L1'] });
    // A location not of the partner (none here: checked before) was never held through *.
    expect(revokeRole([admin('*')], 'INCENTIVES_ADMIN', ['L9'], ['L1'])).toEqual({ roles: [admin('*')], changed: [] });
    // All of them: the role goes, reported as * (every location it covered, those added since the list was read too).
    expect(revokeRole([admin('*')], 'INCENTIVES_ADMIN', ['L2', 'L1'], ['L1', 'L2'])).toEqual({ roles: [], changed: ['*'] });
  });
});

describe('grantsRole and grantKeys (from @lib/contracts), on identity grants', () => {
  it('answers through * and lists one key per grant', () => {
    expect(grantsRole([admin('*')], 'INCENTIVES_ADMIN', 'L7')).toBe(true);
    expect(grantsRole([admin('L1')], 'INCENTIVES_ADMIN', 'L7')).toBe(false);
    expect(grantsRole([user('L7')], 'INCENTIVES_ADMIN', 'L7')).toBe(false);
    expect(grantKeys([admin('L1', 'L2'), user('*')])).toEqual(['INCENTIVES_ADMIN:L1', 'INCENTIVES_ADMIN:L2', 'INCENTIVES_USER:*']);
  });
});
