import { IsArray, IsIn, IsInt, IsOptional, IsString, Matches, Min } from 'class-validator';
import { EnrollmentStatus, EnrollmentStatuses, FISCAL_YEAR_PATTERN } from '../domain';

/** enrollments.events.v1, key locationId. Every status change carries the enrollment as it now is. */
export class EnrollmentEvent {
  @IsString() enrollmentId!: string;
  @IsString() programId!: string;
  @IsOptional() @IsString() programName?: string;
  @IsString() partnerId!: string;
  @IsString() locationId!: string;
  @Matches(FISCAL_YEAR_PATTERN) fiscalYear!: string;
  @IsIn(EnrollmentStatuses) status!: EnrollmentStatus;
  @IsOptional() @IsIn(EnrollmentStatuses) previousStatus?: EnrollmentStatus;
  /** Why the status is what it is (rejection reasons, expiry reasons...). */
  @IsArray() @IsString({ each: true }) reasons: string[] = [];
  /** What is missing under the program's payout rules (codes such as BANK_PROFILE_MISSING). */
  @IsArray() @IsString({ each: true }) missing: string[] = [];
  @IsOptional() @IsString() bankProfileId?: string;
  @IsOptional() @IsString() taxProfileId?: string;
  @IsInt() @Min(1) revision!: number;
}

export class EnrollmentStarted extends EnrollmentEvent {}
export class EnrollmentActionRequired extends EnrollmentEvent {}
export class EnrollmentValidating extends EnrollmentEvent {}
export class EnrollmentEnrolled extends EnrollmentEvent {}
export class EnrollmentRejected extends EnrollmentEvent {}
export class EnrollmentRenewed extends EnrollmentEvent {
  @Matches(FISCAL_YEAR_PATTERN) fromFiscalYear!: string;
}
export class EnrollmentExpired extends EnrollmentEvent {}
export class EnrollmentIneligible extends EnrollmentEvent {}
export class EnrollmentDiscontinued extends EnrollmentEvent {}
/** Not a status change: sent 30 days before fiscal-year end for an enrollment that would not continue. */
export class EnrollmentRenewalAtRisk extends EnrollmentEvent {
  @IsString() fiscalYearEndsAt!: string;
}

export const EnrollmentEventTypes = {
  EnrollmentStarted,
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
