import { createHash } from 'node:crypto';

/**
 * A UUID (version 5 layout) derived from its parts: deriving the same fact again gives the same id, so a retried
 * or re-run operation finds what it wrote before (one enrollment per key, one event per transition).
 */
export function deterministicId(...parts: string[]): string {
  const hash = createHash('sha1').update(parts.join('\u0000')).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

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
