import { EnrollmentEvent, EnrollmentEventTypes, EnrollmentStatus, Topics } from '@lib/contracts';
import { EventOutbox, OutboxEntry } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import { transitionEventId } from '../common/ids';
import type { Enrollment } from './enrollment.schema';

export type EnrollmentEventType = keyof typeof EnrollmentEventTypes;

/** The enrollment as it now is, as every event on enrollments.events.v1 carries it. */
export function enrollmentEventData(e: Enrollment, previousStatus?: EnrollmentStatus): EnrollmentEvent {
  return {
    enrollmentId: e._id,
    programId: e.programId,
    ...(e.programName !== undefined && { programName: e.programName }),
    partnerId: e.partnerId,
    locationId: e.locationId,
    fiscalYear: e.fiscalYear,
    status: e.status,
    ...(previousStatus !== undefined && previousStatus !== e.status && { previousStatus }),
    reasons: [...(e.reasons ?? [])],
    missing: [...(e.missing ?? [])],
    ...(e.bankProfileId && { bankProfileId: e.bankProfileId }),
    ...(e.taxProfileId && { taxProfileId: e.taxProfileId }),
    revision: e.version,
    completed: e.status === 'ENROLLED' || !!e.enrolledAt,
    started: !!e.evaluatedAt || e.status === 'ENROLLED' || !!e.enrolledAt,
    submitted: !!e.submittedAt,
  };
}

/**
 * Still ACTION_REQUIRED, now with a reason it did not give before (a second profile rejected while the first one still
 * is, a bank profile in a currency the program does not allow found by Continue, ...): announced again
 * (EnrollmentRejected when a validator rejected a profile, EnrollmentActionRequired otherwise), with every reason, so
 * that the admins and the consumers of enrollments.events.v1 hear of it now rather than when the first one is fixed.
 * Reasons only going away (one fixed, another still standing) are not announced: there is nothing new to do, and the
 * enrollment shows what is left.
 */
export function newReasonType(
  before: { status: EnrollmentStatus; reasons?: string[] },
  after: { status: EnrollmentStatus; reasons: string[] },
  { rejected = false } = {},
): EnrollmentEventType | null {
  if (before.status !== 'ACTION_REQUIRED' || after.status !== 'ACTION_REQUIRED') return null;
  const known = new Set(before.reasons ?? []);
  if (!after.reasons.some((reason) => !known.has(reason))) return null;
  return rejected ? 'EnrollmentRejected' : 'EnrollmentActionRequired';
}

/** The event type that announces a status change (null: not a status change worth an event). */
export function transitionType(from: EnrollmentStatus | undefined, to: EnrollmentStatus, { rejected = false } = {}): EnrollmentEventType | null {
  if (from === to) return null;
  switch (to) {
    case 'INVITED':
      return 'EnrollmentStarted';
    case 'ACTION_REQUIRED':
      return rejected ? 'EnrollmentRejected' : 'EnrollmentActionRequired';
    case 'VALIDATING':
      return 'EnrollmentValidating';
    case 'ENROLLED':
      return 'EnrollmentEnrolled';
    case 'INELIGIBLE':
      return 'EnrollmentIneligible';
    case 'DISCONTINUED':
      return 'EnrollmentDiscontinued';
    case 'EXPIRED':
      return 'EnrollmentExpired';
    default:
      return null;
  }
}

/**
 * Outbox entries for enrollments.events.v1 (key locationId). Event ids are derived from the enrollment and its
 * version after the write, so re-deriving a transition (a retried handler) re-creates the same event.
 */
@Injectable()
export class EnrollmentEvents {
  constructor(private readonly outbox: EventOutbox) {}

  event(
    type: EnrollmentEventType,
    enrollment: Enrollment,
    { previousStatus, extra = {}, eventId }: { previousStatus?: EnrollmentStatus; extra?: Record<string, unknown>; eventId?: string } = {},
  ): OutboxEntry {
    return this.outbox.event(Topics.enrollments, {
      type,
      data: { ...enrollmentEventData(enrollment, previousStatus), ...extra },
      key: enrollment.locationId,
      eventId: eventId ?? transitionEventId(enrollment._id, enrollment.version, type),
    });
  }

  committed(): void {
    this.outbox.committed();
  }
}
