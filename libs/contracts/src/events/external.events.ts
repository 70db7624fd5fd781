import { IsArray, IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Min } from 'class-validator';
import { FISCAL_YEAR_PATTERN, ID_MESSAGE, ID_PATTERN, ProfileKind, ProfileKinds, ValidationOutcome, ValidationOutcomes } from '../domain';

/**
 * An id the platform can hold (ID_PATTERN): an event naming another (blank, `*`, spaces) names nothing, and is
 * dead-lettered rather than stored in the views.
 */
const Id = () => Matches(ID_PATTERN, { message: ID_MESSAGE });

/** eligibility.decisions.v1 (written by eligibility systems), key locationId. */
export class EligibilityDetermined {
  @IsString() @Id() programId!: string;
  @IsString() @Id() locationId!: string;
  @IsString() @Id() partnerId!: string;
  @Matches(FISCAL_YEAR_PATTERN, { message: 'fiscalYear must look like FY27' }) fiscalYear!: string;
  @IsBoolean() eligible!: boolean;
  @IsOptional() @IsArray() @IsString({ each: true }) reasons: string[] = [];
}

/** agreements.status.v1 (written by the agreements system), key partnerId. */
export class AgreementStatusChanged {
  @IsString() @Id() partnerId!: string;
  @IsBoolean() active!: boolean;
}

/** payout-profiles.validation-results.v1 (written by the payments back office), key partnerId. */
export class ProfileValidationCompleted {
  @IsString() @Id() profileId!: string;
  @IsIn(ProfileKinds) profileKind!: ProfileKind;
  @IsInt() @Min(1) revision!: number;
  @IsIn(ValidationOutcomes) outcome!: ValidationOutcome;
  @IsOptional() @IsArray() @IsString({ each: true }) reasons: string[] = [];
}
