import type { DefaultClaim } from '../bank-profiles/bank-profile.schema';

/** What a claim is checked against: the location's default as stored now (absent: version 0, none). */
export interface StoredDefault {
  locationId: string;
  version: number;
  bankProfileId: string | null;
}

/**
 * Splits a profile's claims into the live ones (the location's default is this profile, or is being written) and,
 * per location, the highest version up to which its claims are obsolete. A claim for version v of a location's
 * default is obsolete once that default is past v (v was written or lost, and every later write claims anew), or
 * at v pointing elsewhere (the claim lost its race). Both only grow, so an obsolete claim stays obsolete and can be
 * dropped at any time; a claim whose default is still below v is pending and counts as live.
 */
export function sortClaims(
  profileId: string,
  claims: DefaultClaim[],
  stored: StoredDefault[],
): { live: string[]; obsoleteUpTo: Map<string, number> } {
  const byLocation = new Map(stored.map((d) => [d.locationId, d]));
  const live = new Set<string>();
  const obsoleteUpTo = new Map<string, number>();
  for (const claim of claims) {
    const current = byLocation.get(claim.locationId);
    const version = current?.version ?? 0;
    const obsolete = version > claim.version || (version === claim.version && current?.bankProfileId !== profileId);
    if (obsolete) obsoleteUpTo.set(claim.locationId, Math.max(obsoleteUpTo.get(claim.locationId) ?? 0, claim.version));
    else live.add(claim.locationId);
  }
  return { live: [...live].sort(), obsoleteUpTo };
}
