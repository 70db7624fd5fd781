import { bankProfileEditBlockers, canManageBankProfiles, canReadBankProfiles } from './permissions';

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
