import { enrollmentId } from '../common/ids';
import { Enrollment } from './enrollment.schema';
import { completeAt, nextAction, statusLabel } from './enrollment-rules';
import type { EnrollmentDto } from './dto/enrollment.dto';

/**
 * The enrollment as a viewer sees it: its admin gets the next action and, while there is one, where to complete what is missing. `now`: the
 * service's clock; `programOpen`: whether its program takes new enrollments; `restartable`: whether Enroll would start an
 * INELIGIBLE one again, `programFiscalYear` the year Enroll would act on (see nextAction).
 */
export function toEnrollmentDto(
  e: Enrollment,
  {
    viewerIsAdmin,
    payoutApiUrl,
    now,
    programOpen,
    restartable,
    programFiscalYear,
    agreementActive,
  }: { viewerIsAdmin: boolean; payoutApiUrl: string; now: Date; programOpen?: boolean; restartable?: boolean; programFiscalYear?: string; agreementActive?: boolean },
): EnrollmentDto {
  const action = viewerIsAdmin ? nextAction(e, { now, programOpen, restartable, programFiscalYear, agreementActive }) : null;
  return {
    enrollmentId: e._id,
    programId: e.programId,
    ...(e.programName !== undefined && { programName: e.programName }),
    partnerId: e.partnerId,
    locationId: e.locationId,
    fiscalYear: e.fiscalYear,
    status: e.status,
    statusLabel: statusLabel(e, viewerIsAdmin),
    nextAction: action,
    proposal: { bankProfileId: e.bankProfileId ?? null, taxProfileId: e.taxProfileId ?? null },
    missing: [...(e.missing ?? [])],
    // Where to complete what is missing, while there is something to do (no links for an enrollment whose year is over
    // and that the rollover will expire, or one expired or continued: nothing there can use them).
    completeAt: action !== null ? completeAt(e.missing ?? [], { locationId: e.locationId, bankProfileId: e.bankProfileId, bankChosen: e.bankChosen, bankSubmitted: !!e.submittedAt, baseUrl: payoutApiUrl }) : [],
    reasons: [...(e.reasons ?? [])],
    ...(e.submittedAt && { submittedAt: new Date(e.submittedAt).toISOString() }),
    ...(e.enrolledAt && { enrolledAt: new Date(e.enrolledAt).toISOString() }),
    ...(e.renewedFrom && { renewedFrom: e.renewedFrom }),
    ...(e.rollover &&
      e.rollover.outcome !== 'EXPIRED' && {
        rolledOverTo: enrollmentId({ programId: e.programId, locationId: e.locationId, fiscalYear: e.rollover.toFiscalYear }),
      }),
    ...(e.rollover && {
      rollover: { toFiscalYear: e.rollover.toFiscalYear, outcome: e.rollover.outcome, at: new Date(e.rollover.at).toISOString(), ...(e.rollover.early && e.rollover.outcome !== 'EXPIRED' && { early: true }) },
    }),
    version: e.version,
    updatedAt: new Date(e.updatedAt).toISOString(),
  };
}
