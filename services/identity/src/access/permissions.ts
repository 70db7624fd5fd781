import { Role } from '@lib/contracts';
import type { Grant } from '../roles/role-grants';

/**
 * What each company role may do in the identity service: permissions as data, checked by `can`.
 * Incentive roles (INCENTIVES_ADMIN/USER) grant nothing here except listing a location's admins (see
 * ListIncentivesAdmins), because identity administration belongs to the company admins (SPEC 1, Roles).
 */
export const PERMISSIONS = {
  'users.create': ['GLOBAL_ADMIN', 'ACCOUNT_ADMIN'],
  'users.create-company-admin': ['GLOBAL_ADMIN'],
  'users.list': ['GLOBAL_ADMIN', 'ACCOUNT_ADMIN'],
  'users.read': ['GLOBAL_ADMIN', 'ACCOUNT_ADMIN'],
  'users.deactivate': ['GLOBAL_ADMIN', 'ACCOUNT_ADMIN'],
  'users.deactivate-company-admin': ['GLOBAL_ADMIN'],
  'users.import': ['GLOBAL_ADMIN'],
  'roles.manage-incentive': ['GLOBAL_ADMIN', 'ACCOUNT_ADMIN'],
  'roles.manage-company': ['GLOBAL_ADMIN'],
  'roles.list-holders': ['GLOBAL_ADMIN', 'ACCOUNT_ADMIN'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof PERMISSIONS;

/** How messages name each role. */
export const ROLE_LABELS: Record<Role, string> = {
  GLOBAL_ADMIN: 'Global admin',
  ACCOUNT_ADMIN: 'Account admin',
  INCENTIVES_ADMIN: 'Incentives admin',
  INCENTIVES_USER: 'Incentives user',
};

const withArticle = (label: string) => `${/^[AEIOU]/.test(label) ? 'an' : 'a'} ${label}`;

export function can(roles: readonly Grant[], permission: Permission): boolean {
  const allowed: readonly Role[] = PERMISSIONS[permission];
  return roles.some((grant) => allowed.includes(grant.role));
}

/** "Only a Global admin or an Account admin can <action>." */
export function deniedMessage(permission: Permission, action: string): string {
  const who = (PERMISSIONS[permission] as readonly Role[]).map((role) => withArticle(ROLE_LABELS[role])).join(' or ');
  return `Only ${who} can ${action}.`;
}
