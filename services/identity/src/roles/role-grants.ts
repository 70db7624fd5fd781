import { ALL_LOCATIONS, COMPANY_ROLES, Role, Roles } from '@lib/contracts';

/** One role of a user: incentive roles on a list of locations or `*`; company roles always on `*`. */
export interface Grant {
  role: Role;
  locationIds: string[];
}

export interface RoleChangeResult {
  roles: Grant[];
  /** The locations this change granted or revoked; empty means nothing changed (no event). */
  changed: string[];
}

export function isCompanyRole(role: Role): boolean {
  return COMPANY_ROLES.includes(role);
}

/** De-duplicated and sorted; `*` absorbs every other location. */
export function normalizeLocations(locationIds: readonly string[]): string[] {
  if (locationIds.includes(ALL_LOCATIONS)) return [ALL_LOCATIONS];
  return [...new Set(locationIds)].sort();
}

/** Roles in the order of the vocabulary, so equal role sets are equal documents and snapshots. */
function canonical(roles: Grant[]): Grant[] {
  return [...roles]
    .filter((grant) => grant.locationIds.length > 0)
    .sort((a, b) => Roles.indexOf(a.role) - Roles.indexOf(b.role))
    .map((grant) => ({ role: grant.role, locationIds: normalizeLocations(grant.locationIds) }));
}

/** Merges a grant into the roles held. What is already held (directly or through `*`) changes nothing. */
export function assignRole(roles: Grant[], role: Role, locationIds: readonly string[]): RoleChangeResult {
  const requested = isCompanyRole(role) ? [ALL_LOCATIONS] : normalizeLocations(locationIds);
  const current = roles.find((grant) => grant.role === role);
  const held = current?.locationIds ?? [];
  if (held.includes(ALL_LOCATIONS)) return { roles: canonical(roles), changed: [] };
  const granted = requested.includes(ALL_LOCATIONS) ? [ALL_LOCATIONS] : requested.filter((id) => !held.includes(id));
  if (granted.length === 0) return { roles: canonical(roles), changed: [] };
  const merged = granted.includes(ALL_LOCATIONS) ? [ALL_LOCATIONS] : [...held, ...granted];
  const others = roles.filter((grant) => grant.role !== role);
  return { roles: canonical([...others, { role, locationIds: merged }]), changed: granted };
}

/**
 * Removes locations from a role; `*` removes the role. Locations not held change nothing. From a role held on `*`,
 * some locations leave it on the rest of `partnerLocations` (the partner's locations now): one change, so narrowing
 * `*` to a list never passes through holding nothing (which every service would take for the admin leaving). None
 * left removes the role, reported as `*` (all that was held).
 */
export function revokeRole(roles: Grant[], role: Role, locationIds: readonly string[], partnerLocations: readonly string[] = []): RoleChangeResult {
  const requested = isCompanyRole(role) ? [ALL_LOCATIONS] : normalizeLocations(locationIds);
  const current = roles.find((grant) => grant.role === role);
  if (!current) return { roles: canonical(roles), changed: [] };
  const others = roles.filter((grant) => grant.role !== role);
  if (requested.includes(ALL_LOCATIONS)) {
    return { roles: canonical(others), changed: normalizeLocations(current.locationIds) };
  }
  const held = current.locationIds.includes(ALL_LOCATIONS) ? normalizeLocations(partnerLocations) : current.locationIds;
  const revoked = requested.filter((id) => held.includes(id));
  if (revoked.length === 0) return { roles: canonical(roles), changed: [] };
  const remaining = held.filter((id) => !revoked.includes(id));
  if (current.locationIds.includes(ALL_LOCATIONS) && remaining.length === 0) return { roles: canonical(others), changed: [ALL_LOCATIONS] };
  return { roles: canonical([...others, { role, locationIds: remaining }]), changed: revoked };
}
