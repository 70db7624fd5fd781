import { deterministicId } from '@lib/contracts';

/** Ids derived from their parts (one per fact): see @lib/contracts. */
export { deterministicId };

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
