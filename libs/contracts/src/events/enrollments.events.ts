import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Min, ValidateNested } from 'class-validator';
import { EnrollmentStatus, EnrollmentStatuses } from '../domain';
import { IsFiscalYear } from '../fiscal-year';
import { IsIsoInstant } from '../instant';
import { DecisionRef } from './common';

/**
 * enrollments.events.v1, key locationId. Every status change (and a new reason while ACTION_REQUIRED) carries the
 * enrollment as it now is.
 */
export class EnrollmentEvent {
  @IsString() enrollmentId!: string;
  @IsString() programId!: string;
  @IsOptional() @IsString() programName?: string;
  @IsString() partnerId!: string;
  @IsString() locationId!: string;
  @IsFiscalYear() fiscalYear!: string;
  @IsIn(EnrollmentStatuses) status!: EnrollmentStatus;
  @IsOptional() @IsIn(EnrollmentStatuses) previousStatus?: EnrollmentStatus;
  /** Why the status is what it is (rejection reasons, expiry reasons...). */
  @IsArray() @IsString({ each: true }) reasons: string[] = [];
  /** What is missing under the program's payout rules (codes such as BANK_PROFILE_MISSING). */
  @IsArray() @IsString({ each: true }) missing: string[] = [];
  @IsOptional() @IsString() bankProfileId?: string;
  @IsOptional() @IsString() taxProfileId?: string;
  @IsInt() @Min(1) revision!: number;
  /**
   * Whether the enrollment is completed in its fiscal year: ENROLLED once, also when a profile edit or a rejection sent
   * it back since (the fiscal-year rollover continues a completed enrollment into the next year, and it keeps this on
   * EnrollmentExpired). False again when its completion is taken back: a continuation made by an operator's early
   * rollover run and ended INELIGIBLE by the review at year end, or an INELIGIBLE enrollment the admin starts again.
   * Every event carries it; an event without it comes from a producer that predates it (take ENROLLED in `status` or
   * `previousStatus` as completed then).
   */
  @IsOptional() @IsBoolean() completed?: boolean;
  /**
   * Whether an Incentives admin has started it (selected Enroll: it was evaluated against the program's payout rules),
   * or the fiscal-year rollover made it (a continuation); true on every completed one. False: only invited, nobody acted
   * on it. Every event carries it; an event without it comes from a producer that predates it (take a `status` or
   * `previousStatus` past INVITED as started then).
   */
  @IsOptional() @IsBoolean() started?: boolean;
  /**
   * Whether it was submitted (Submit was selected, or the rollover continued it into this year) and follows its
   * profiles' validation: correcting a profile is then enough, without another Submit. Every event carries it; an event
   * without it comes from a producer that predates it (take `previousStatus` VALIDATING or ENROLLED as submitted then).
   */
  @IsOptional() @IsBoolean() submitted?: boolean;
  /**
   * Set on the event that announces an enrollment the fiscal-year rollover continued from that year: always on
   * EnrollmentRenewed; on EnrollmentValidating (continued while a profile revision waits for validation),
   * EnrollmentRejected (continued while one was rejected: correcting the profile is enough) and
   * EnrollmentActionRequired (continued with payout information missing: the admin continues and submits it).
   * Validated (and documented) on those four only: class-validator keeps an inherited @IsOptional, so a base-class
   * declaration would make it optional on EnrollmentRenewed too.
   */
  fromFiscalYear?: string;
}

/** The year a continuation came from, where the event may announce one. */
const ContinuedFrom = () => (target: object, key: string) => {
  IsOptional()(target, key);
  IsFiscalYear()(target, key);
};

export class EnrollmentStarted extends EnrollmentEvent {}
export class EnrollmentActionRequired extends EnrollmentEvent {
  @ContinuedFrom() override fromFiscalYear?: string;
}
export class EnrollmentValidating extends EnrollmentEvent {
  @ContinuedFrom() override fromFiscalYear?: string;
}
export class EnrollmentEnrolled extends EnrollmentEvent {}
export class EnrollmentRejected extends EnrollmentEvent {
  @ContinuedFrom() override fromFiscalYear?: string;
}
export class EnrollmentRenewed extends EnrollmentEvent {
  /** The year the rollover continued the enrollment from: always present. */
  @IsFiscalYear() override fromFiscalYear!: string;
}
export class EnrollmentExpired extends EnrollmentEvent {}
export class EnrollmentIneligible extends EnrollmentEvent {
  /**
   * The eligibility decision that ended it (absent: another cause, such as an inactive agreement, or a revocation
   * naming none; or a producer before it, which named it only where the year-end review of an early renewal or a
   * Submit ended it). A consumer holding an eligible decision of the
   * location not later than this one holds one the enrollment service has seen replaced: the invitations service does
   * not invite again on it.
   */
  @IsOptional() @IsObject() @ValidateNested() @Type(() => DecisionRef) decision?: DecisionRef;
}
export class EnrollmentDiscontinued extends EnrollmentEvent {
  /**
   * When its program was discontinued (the catalog's change), which the event may follow by a while (the enrollment
   * service's sweep behind): the fiscal year it ended in is judged by it. Absent in older events: their occurredAt.
   */
  @IsOptional() @IsIsoInstant() discontinuedAt?: string;
}
/**
 * INVITED again (`previousStatus` INELIGIBLE): an enrollment that was only invited and ended INELIGIBLE, its location
 * eligible again and its invitation issued again. The invitation itself is announced by the invitations service.
 */
export class EnrollmentInvited extends EnrollmentEvent {}
export const RenewalRiskKinds = ['WILL_NOT_CONTINUE', 'NOT_COMPLETED'] as const;
/** What the year-end rollover would do with it as things stand (EnrollmentRenewalAtRisk.outcome). */
export const RenewalRiskOutcomes = ['EXPIRED', 'ACTION_REQUIRED'] as const;

/**
 * Not a status change: sent 30 days before fiscal-year end for an enrollment that would not continue. Its `reasons` and
 * `missing` say why it would not (the renewal's), not the enrollment's as stored: a consumer keeping enrollments takes
 * its status and revision, not those two.
 */
export class EnrollmentRenewalAtRisk extends EnrollmentEvent {
  /** The end of the fiscal year (exclusive: FY27 ends at 2027-07-01T00:00:00Z, its last day being June 30). */
  @IsIsoInstant() fiscalYearEndsAt!: string;
  /**
   * WILL_NOT_CONTINUE (also when absent): completed this year, it would not be continued into the next (reasons).
   * NOT_COMPLETED: started but never completed, it expires with its year unless completed before.
   */
  @IsOptional() @IsIn(RenewalRiskKinds) kind?: (typeof RenewalRiskKinds)[number];
  /**
   * What the year-end rollover would do, as things stand: EXPIRED (it ends with its year), or ACTION_REQUIRED (a
   * completed one whose payout or tax information alone falls short: continued into the next year as Action
   * required, with `missing` to complete). Absent from a producer that predates it: take EXPIRED.
   */
  @IsOptional() @IsIn(RenewalRiskOutcomes) outcome?: (typeof RenewalRiskOutcomes)[number];
}

export const EnrollmentEventTypes = {
  EnrollmentStarted,
  EnrollmentInvited,
  EnrollmentActionRequired,
  EnrollmentValidating,
  EnrollmentEnrolled,
  EnrollmentRejected,
  EnrollmentRenewed,
  EnrollmentExpired,
  EnrollmentIneligible,
  EnrollmentDiscontinued,
  EnrollmentRenewalAtRisk,
} as const;
