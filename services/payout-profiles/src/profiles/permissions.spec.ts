import { canManageBankProfiles, canReadBankProfiles } from './permissions';

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
