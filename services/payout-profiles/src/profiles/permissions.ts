import { Actor, isCompanyAdmin } from '@lib/access';

/**
 * Bank profiles belong to the partner, not to a location: any Incentives admin of the partner (on any of its
 * locations, or '*') manages them.
 */
export function canManageBankProfiles(actor: Pick<Actor, 'roles'>): boolean {
  return actor.roles.some((r) => r.role === 'INCENTIVES_ADMIN' && r.locationIds.length > 0);
}

/** Company admins and anyone with an incentives role read bank profiles (masked). */
export function canReadBankProfiles(actor: Pick<Actor, 'roles'>): boolean {
  return isCompanyAdmin(actor) || actor.roles.some((r) => (r.role === 'INCENTIVES_ADMIN' || r.role === 'INCENTIVES_USER') && r.locationIds.length > 0);
}
