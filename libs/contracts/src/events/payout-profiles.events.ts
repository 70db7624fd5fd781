import { JSONSchema } from 'class-validator-jsonschema';
import { ArrayNotEmpty, IsArray, IsIn, IsInt, IsOptional, IsString, Matches, Min } from 'class-validator';
import { PaymentMethod, PaymentMethods, ProfileKind, ProfileKinds, ProfileStatus, ProfileStatuses } from '../domain';
import { IsIsoInstant } from '../instant';
import { KnownWhenPublished } from './common';

/**
 * payout-profiles.events.v1, key locationId (tax profiles, their expiry, default bank profiles), except the events
 * of a bank profile: it belongs to the whole partner, so they are keyed by partnerId.
 * No secret ever appears here: account numbers and tax ids are at most masked (last four characters).
 */
/**
 * What every profile event and validation request says of the profile: its account details (masked), status and
 * revision. The back office validates these, not who may use the profile (ProfileEvent adds that).
 */
export class ProfileDetails {
  @IsString() profileId!: string;
  @IsIn(ProfileKinds) profileKind!: ProfileKind;
  @IsString() partnerId!: string;
  /** Tax profiles belong to one location; bank profiles to the partner. */
  @IsOptional() @IsString() locationId?: string;
  @IsInt() @Min(1) revision!: number;
  @IsIn(ProfileStatuses) status!: ProfileStatus;
  @IsArray() @IsString({ each: true }) reasons: string[] = [];
  @IsOptional() @IsString() name?: string;
  @IsOptional() @Matches(/^[A-Z]{2}$/) country?: string;
  @IsOptional() @Matches(/^[A-Z]{3}$/) currency?: string;
  /** One of PaymentMethods, or one a later payout-profiles added: kept as named (no program this version knows allows it). */
  @JSONSchema({ description: `One of ${PaymentMethods.join(', ')}, or a method a later version adds (no program its consumers know allows it).` })
  @IsOptional()
  @KnownWhenPublished(PaymentMethods)
  paymentMethod?: PaymentMethod | (string & {});
  /** Tax profiles: when the tax forms stop being valid; expired from this instant on (a date: valid through the day before). */
  @JSONSchema({ description: 'Tax profiles: when the tax forms stop being valid. The profile is expired from this instant on: an expiry date is its midnight UTC, the forms valid through the day before.' })
  @IsOptional()
  @IsIsoInstant()
  expiresAt?: string;
  @IsOptional() @IsString() maskedAccount?: string;
}

export class ProfileEvent extends ProfileDetails {
  /**
   * Bank profiles: the locations the profile serves (those whose enrollments may choose it and whose default it may
   * be), or `['*']` for every location of the partner. Absent in events written before it existed: read as `['*']`.
   */
  @IsOptional() @IsArray() @ArrayNotEmpty() @IsString({ each: true }) locationIds?: string[];
  /**
   * Bank profiles: the profile's version (its ETag) when the event was written. It orders two events of one revision:
   * a change of `locationIds` alone is not a new revision (nothing to validate again). Absent in older events.
   */
  @IsOptional() @IsInt() @Min(1) version?: number;
  /**
   * ProfileApproved / ProfileActionRequired, and every later event of that decided revision (a change of locationIds):
   * when the revision was decided (the back office's result as it dated it, or the operator's request), never after
   * the event; the event itself may be written later (a lagging consumer of the results). What "approved within the
   * fiscal year" is judged by. Absent in older events: their occurredAt (on a later event of a decided revision, the
   * decision's event's, if a consumer saw it).
   */
  @IsOptional() @IsIsoInstant() decidedAt?: string;
}

export class ProfileCreated extends ProfileEvent {}
export class ProfileUpdated extends ProfileEvent {}
export class ProfileSubmittedForValidation extends ProfileEvent {}
export class ProfileApproved extends ProfileEvent {}
export class ProfileActionRequired extends ProfileEvent {}

/** DefaultBankProfileAssigned names the new default; DefaultBankProfileRemoved, the pair it removed. */
export class DefaultBankProfileChange {
  @IsString() partnerId!: string;
  @IsString() locationId!: string;
  @IsString() bankProfileId!: string;
  @Matches(/^[A-Z]{3}$/) currency!: string;
  /**
   * The version of the location's default after this change (every assignment and removal of the location's default
   * increments it): it orders the location's events, where occurredAt (the writer's clock) may not. Absent in events
   * written before it existed.
   */
  @IsOptional() @IsInt() @Min(1) version?: number;
}
export class DefaultBankProfileAssigned extends DefaultBankProfileChange {}
export class DefaultBankProfileRemoved extends DefaultBankProfileChange {}

export class TaxProfileExpiring {
  @IsString() profileId!: string;
  @IsString() partnerId!: string;
  @IsString() locationId!: string;
  @IsIsoInstant() expiresAt!: string;
  @IsInt() daysLeft!: number;
}

export const PayoutProfileEventTypes = {
  ProfileCreated,
  ProfileUpdated,
  ProfileSubmittedForValidation,
  ProfileApproved,
  ProfileActionRequired,
  DefaultBankProfileAssigned,
  DefaultBankProfileRemoved,
  TaxProfileExpiring,
} as const;

/** The events of one bank or tax profile revision (ProfileEvent), keyed by the profile (see the catalog). */
export const ProfileEventTypes = ['ProfileCreated', 'ProfileUpdated', 'ProfileSubmittedForValidation', 'ProfileApproved', 'ProfileActionRequired'] as const satisfies ReadonlyArray<keyof typeof PayoutProfileEventTypes>;
export type ProfileEventType = (typeof ProfileEventTypes)[number];

/** Whether a payout-profiles event's type is one of ProfileEventTypes. */
export function isProfileEvent(type: string): type is ProfileEventType {
  return (ProfileEventTypes as readonly string[]).includes(type);
}

/**
 * payout-profiles.validation-requests.v1, key partnerId: what the payments back office must validate (the account
 * details: ProfileDetails, without ProfileEvent's `locationIds` and `version`).
 */
export class ProfileValidationRequested extends ProfileDetails {
  /** Where the back office reads the full details (operator API), since secrets never travel in events. */
  @IsString() detailsPath!: string;
}
