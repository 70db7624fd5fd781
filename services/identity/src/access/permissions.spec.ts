import { Role } from '@lib/contracts';
import { can, deniedMessage, Permission } from './permissions';

const as = (...roles: Role[]) => roles.map((role) => ({ role, locationIds: ['*'] }));

describe('permissions', () => {
  it.each<[Permission, Role[], boolean]>([
    ['users.create', ['GLOBAL_ADMIN'], true],
    ['users.create', ['ACCOUNT_ADMIN'], true],
    ['users.create', ['INCENTIVES_ADMIN'], false],
    ['users.create', [], false],
    ['users.create-company-admin', ['ACCOUNT_ADMIN'], false],
    ['users.create-company-admin', ['GLOBAL_ADMIN'], true],
    ['users.import', ['ACCOUNT_ADMIN'], false],
    ['users.import', ['GLOBAL_ADMIN'], true],
    ['roles.manage-incentive', ['ACCOUNT_ADMIN'], true],
    ['roles.manage-incentive', ['INCENTIVES_ADMIN', 'INCENTIVES_USER'], false],
    ['roles.manage-company', ['ACCOUNT_ADMIN'], false],
    ['users.deactivate-company-admin', ['ACCOUNT_ADMIN'], false],
  ])('%s for %j: %s', (permission, roles, expected) => {
    expect(can(as(...roles), permission)).toBe(expected);
  });

  it('names who may do it', () => {
    expect(deniedMessage('users.create', 'create users')).toBe('Only a Global admin or an Account admin can create users.');
    expect(deniedMessage('users.import', 'import users')).toBe('Only a Global admin can import users.');
  });
});
