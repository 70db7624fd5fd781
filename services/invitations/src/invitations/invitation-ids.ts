import { createHash } from 'node:crypto';

/**
 * A UUID (version 5 layout) derived from its parts: re-deriving the same fact gives the same id, so duplicates
 * converge (one invitation per program, location and fiscal year; one event per transition).
 */
export function deterministicId(...parts: string[]): string {
  const hash = createHash('sha1').update(parts.join('\u0000')).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** What an invitation, an eligibility decision and an enrollment status are kept per. */
export interface InvitationKey {
  programId: string;
  locationId: string;
  fiscalYear: string;
}

export function invitationId({ programId, locationId, fiscalYear }: InvitationKey): string {
  return deterministicId('invitation', programId, locationId, fiscalYear);
}

/** The link in the email and behind the notice: the enrollment page of that program for that location. */
export function getStartedUrl(portalBaseUrl: string, { programId, locationId, fiscalYear }: InvitationKey): string {
  const query = new URLSearchParams({ programId, locationId, fiscalYear });
  return `${portalBaseUrl.replace(/\/+$/, '')}/incentives/enroll?${query.toString()}`;
}
