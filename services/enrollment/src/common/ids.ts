import { deterministicId } from '@lib/contracts';

/** Ids derived from their parts (one per fact): see @lib/contracts. */
export { deterministicId };

export interface EnrollmentKey {
  programId: string;
  locationId: string;
  fiscalYear: string;
}

/** One enrollment per (program, location, fiscal year). */
export function enrollmentId({ programId, locationId, fiscalYear }: EnrollmentKey): string {
  return deterministicId('enrollment', programId, locationId, fiscalYear);
}

/** The eligibility view keeps one document per (program, location), with every fiscal year's decision in it. */
export function eligibilityId(programId: string, locationId: string): string {
  return `${programId}|${locationId}`;
}

/** The event of one transition: the enrollment's version after the write names it. */
export function transitionEventId(enrollmentId: string, version: number, type: string): string {
  return deterministicId('enrollment-event', enrollmentId, String(version), type);
}
