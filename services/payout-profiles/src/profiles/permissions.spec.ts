import {
  adminLocations,
  bankProfileEditBlockers,
  bankProfileServeBlockers,
  canManageBankProfiles,
  canReadBankProfile,
  canReadBankProfiles,
  normalizeLocationIds,
  servedLocations,
  serves,
} from './permissions';

const as = (...roles: Array<[string, string[]]>) => ({ roles: roles.map(([role, locationIds]) => ({ role: role as never, locationIds })) });

describe('bank profile permissions', () => {
  it.each([
    ['Incentives admin of one location', as(['INCENTIVES_ADMIN', ['L1']]), true, true],
    ['Incentives admin of every location', as(['INCENTIVES_ADMIN', ['*']]), true, true],
    ['Incentives user', as(['INCENTIVES_USER', ['L1']]), false, true],
    ['Global admin', as(['GLOBAL_ADMIN', ['*']]), false, true],
    ['Account admin', as(['ACCOUNT_ADMIN', ['*']]), false, true],
    ['no role', as(), false, false],
  ])('%s: manage=%s read=%s', (_, actor, manage, read) => {
    expect(canManageBankProfiles(actor)).toBe(manage);
    expect(canReadBankProfiles(actor)).toBe(read);
  });
});

describe('editing a bank profile that is a default', () => {
  it.each([
    ['no location default: any Incentives admin', as(['INCENTIVES_ADMIN', ['L2']]), [], []],
    ['admin of its only default location', as(['INCENTIVES_ADMIN', ['L1']]), ['L1'], []],
    ['admin of another location', as(['INCENTIVES_ADMIN', ['L2']]), ['L1'], ['L1']],
    ['admin of some of its default locations', as(['INCENTIVES_ADMIN', ['L1', 'L2']]), ['L1', 'L3'], ['L3']],
    ['admin of every location', as(['INCENTIVES_ADMIN', ['*']]), ['L1', 'L3'], []],
    ['Incentives user of the location', as(['INCENTIVES_USER', ['L1']]), ['L1'], ['L1']],
  ])('%s', (_, actor, defaultOf, blockers) => {
    expect(bankProfileEditBlockers(actor, defaultOf)).toEqual(blockers);
  });
});

describe('the locations a bank profile serves', () => {
  it('a profile stored before locationIds existed serves every location', () => {
    expect(servedLocations({})).toEqual(['*']);
    expect(servedLocations({ locationIds: ['L1'] })).toEqual(['L1']);
    expect([serves(['*'], 'L9'), serves(['L1', 'L3'], 'L3'), serves(['L1', 'L3'], 'L2')]).toEqual([true, true, false]);
  });

  it.each([
    ['admin of L1 and L3 (and user of L2)', as(['INCENTIVES_ADMIN', ['L3', 'L1']], ['INCENTIVES_USER', ['L2']]), ['L1', 'L3']],
    ['admin of two grants', as(['INCENTIVES_ADMIN', ['L2']], ['INCENTIVES_ADMIN', ['L1', 'L2']]), ['L1', 'L2']],
    ['admin of every location', as(['INCENTIVES_ADMIN', ['L1']], ['INCENTIVES_ADMIN', ['*']]), ['*']],
    ['Global admin', as(['GLOBAL_ADMIN', ['*']]), []],
  ])('a create without locationIds serves what the caller administers: %s', (_, actor, expected) => {
    expect(adminLocations(actor)).toEqual(expected);
  });

  it.each([
    // The review's scenario: P serves L1 only; the admin of L2 may not edit it (nor make it serve L2).
    ['admin of L2 on a profile serving L1', as(['INCENTIVES_ADMIN', ['L2']]), ['L1'], ['L1']],
    ['admin of L1 on a profile serving L1', as(['INCENTIVES_ADMIN', ['L1']]), ['L1'], []],
    ['admin of L1 on a profile serving L1 and L2', as(['INCENTIVES_ADMIN', ['L1']]), ['L1', 'L2'], ['L2']],
    ['admin of L1 and L2 on a profile serving every location', as(['INCENTIVES_ADMIN', ['L1', 'L2']]), ['*'], ['*']],
    ['admin of every location on a profile serving L1', as(['INCENTIVES_ADMIN', ['*']]), ['L1'], []],
    ['admin of every location on a profile serving every location', as(['INCENTIVES_ADMIN', ['*']]), ['*'], []],
    ['Incentives user of L1', as(['INCENTIVES_USER', ['L1']]), ['L1'], ['L1']],
    ['Global admin', as(['GLOBAL_ADMIN', ['*']]), ['L1'], ['L1']],
  ])('editing: %s', (_, actor, served, blockers) => {
    expect(bankProfileServeBlockers(actor, served)).toEqual(blockers);
  });

  it.each([
    ['Incentives user of L1 on a profile serving L1 and L3', as(['INCENTIVES_USER', ['L1']]), ['L1', 'L3'], true],
    ['Incentives user of L1 on a profile serving L2', as(['INCENTIVES_USER', ['L1']]), ['L2'], false],
    ['Incentives admin of L2 on a profile serving L1', as(['INCENTIVES_ADMIN', ['L2']]), ['L1'], false],
    ['Incentives user of L1 on a profile serving every location', as(['INCENTIVES_USER', ['L1']]), ['*'], true],
    ['Incentives user of every location on a profile serving L2', as(['INCENTIVES_USER', ['*']]), ['L2'], true],
    ['Global admin on a profile serving L2', as(['GLOBAL_ADMIN', ['*']]), ['L2'], true],
    ['Account admin on a profile serving L2', as(['ACCOUNT_ADMIN', ['*']]), ['L2'], true],
    ['no role on a profile serving every location', as(), ['*'], false],
  ])('reading: %s', (_, actor, served, readable) => {
    expect(canReadBankProfile(actor, served)).toBe(readable);
  });

  it.each([
    [['L3', 'L1'], ['L1', 'L3'], []],
    [['*'], ['*'], []],
    [['*', 'L1'], [], [{ field: 'locationIds', message: 'must be ["*"] alone (every location) or a list of location ids' }]],
    [[], [], [{ field: 'locationIds', message: 'must name at least one location (or be ["*"])' }]],
  ])('locationIds %j are stored as %j', (sent, stored, problems) => {
    expect(normalizeLocationIds(sent)).toEqual({ locationIds: stored, problems });
  });
});
