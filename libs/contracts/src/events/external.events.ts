import { JSONSchema } from 'class-validator-jsonschema';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsString, Matches, MaxLength, Min, ValidateBy, ValidateIf } from 'class-validator';
import { isBlankText, withoutControls } from '../text';
import { ID_MESSAGE, ID_PATTERN, ProfileKind, ProfileKinds, ValidationOutcome, ValidationOutcomes } from '../domain';
import { IsFiscalYear } from '../fiscal-year';

/**
 * An id the platform can hold (ID_PATTERN): an event naming another (blank, `*`, spaces) names nothing, and is
 * dead-lettered rather than stored in the views.
 */
const Id = () => Matches(ID_PATTERN, { message: ID_MESSAGE });

/** At most this many reasons in an eligibility decision or a validation result; each at most MAX_REASON_LENGTH characters (a partner reads them). */
export const MAX_REASONS = 50;
export const MAX_REASON_LENGTH = 1_000;

/**
 * Reasons from an outside system: an optional list of at most MAX_REASONS strings of at most MAX_REASON_LENGTH.
 * `required`: when the payload needs them (an ACTION_REQUIRED result), `null` is checked too (class-validator's
 * IsOptional would skip every check of the property for it, ReasonsForActionRequired included).
 */
function Reasons(required: (payload: object) => boolean = () => false): PropertyDecorator {
  const checks = [
    ValidateIf((payload: object, value: unknown) => (value !== undefined && value !== null) || required(payload)),
    IsArray(),
    ArrayMaxSize(MAX_REASONS, { message: `reasons must be at most ${MAX_REASONS} reasons` }),
    IsString({ each: true }),
    MaxLength(MAX_REASON_LENGTH, { each: true, message: `each reason must be at most ${MAX_REASON_LENGTH} characters` }),
  ];
  // Applied bottom up, as stacked decorators are.
  return (target, property) => [...checks].reverse().forEach((check) => check(target, property));
}

/** eligibility.decisions.v1 (written by eligibility systems), key locationId. */
export class EligibilityDetermined {
  @IsString() @Id() programId!: string;
  @IsString() @Id() locationId!: string;
  @IsString() @Id() partnerId!: string;
  @IsFiscalYear() fiscalYear!: string;
  @IsBoolean() eligible!: boolean;
  @JSONSchema({ description: 'Why (a partner reads them). Control characters and bidirectional overrides are removed, then blank ones dropped, and the first 8 KB (UTF-8) kept; none at all gives a general reason.' })
  @Reasons()
  reasons: string[] = [];
}

/** agreements.status.v1 (written by the agreements system), key partnerId. */
export class AgreementStatusChanged {
  @IsString() @Id() partnerId!: string;
  @IsBoolean() active!: boolean;
}

/** An ACTION_REQUIRED result names at least one reason that is not blank: the partner is told what to fix. */
export const REASONS_FOR_ACTION_REQUIRED = 'reasonsForActionRequired';
const ReasonsForActionRequired = () =>
  ValidateBy({
    name: REASONS_FOR_ACTION_REQUIRED,
    validator: {
      validate: (reasons: unknown, args) =>
        (args?.object as { outcome?: unknown }).outcome !== 'ACTION_REQUIRED' ||
        (Array.isArray(reasons) && reasons.some((r) => typeof r === 'string' && !isBlankText(withoutControls(r)))),
      defaultMessage: () => 'reasons must name at least one reason when the outcome is ACTION_REQUIRED',
    },
  });

/** payout-profiles.validation-results.v1 (written by the payments back office), key partnerId. */
export class ProfileValidationCompleted {
  @IsString() @Id() profileId!: string;
  @IsIn(ProfileKinds) profileKind!: ProfileKind;
  @IsInt() @Min(1) revision!: number;
  @IsIn(ValidationOutcomes) outcome!: ValidationOutcome;
  @JSONSchema({
    description:
      'Required, with at least one reason that is not blank, when outcome is ACTION_REQUIRED (what the partner must fix). Shown to the partner and kept on this topic for good: name the field, never quote an account number, IBAN or tax id (payout-profiles masks those it recognises in what it stores and sends on, but the topic keeps what was written).',
  })
  @ReasonsForActionRequired()
  @Reasons((payload) => (payload as { outcome?: unknown }).outcome === 'ACTION_REQUIRED')
  reasons: string[] = [];
}
