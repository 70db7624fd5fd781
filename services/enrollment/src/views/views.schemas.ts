import { LogPosition, PaymentMethod, ProfileStatus } from '@lib/contracts';
import { REVISION_GUARD_INDEX } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

export interface YearDecision {
  eligible: boolean;
  reasons: string[];
  /** occurredAt of the decision event: a later decision for the same year replaces an earlier one. */
  decidedAt: Date;
  eventId: string;
  /** The partner the decision named (absent on decisions kept before it was recorded). */
  partnerId?: string;
  /** Where it was read on eligibility.decisions.v1 (laterDecision; absent on decisions kept before it was recorded). */
  position?: LogPosition;
  /**
   * Other partners' latest decisions for the year, set aside while identity had not made the location known
   * (keepDecision): the owner's decision is not lost to a later one naming another partner. Absent when none.
   */
  others?: YearDecision[];
}

/**
 * Eligibility decisions of one (program, location), every fiscal year in one document (`years.FY27`), so that Enroll
 * and the rollover read a location's whole history in one lookup.
 */
@Schema({ collection: 'eligibility_view', versionKey: false, minimize: false })
export class EligibilityView {
  /** `programId|locationId` */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) programId!: string;
  @Prop({ required: true }) locationId!: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ type: Object, default: {} }) years!: Record<string, YearDecision>;
}
export const EligibilityViewSchema = SchemaFactory.createForClass(EligibilityView);
EligibilityViewSchema.index(...REVISION_GUARD_INDEX);

/** Whether a partner's agreement is active; a partner never heard of counts as active (see README). */
@Schema({ collection: 'agreement_view', versionKey: false })
export class AgreementView {
  /** partnerId */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) active!: boolean;
  @Prop({ required: true }) changedAt!: Date;
  /** Where it was read on agreements.status.v1: at the same `changedAt`, the one read later wins (absent on older rows). */
  @Prop({ type: Object }) position?: { partition: number; offset: string } | null;
  /**
   * The statuses it had before, newest first (at most AGREEMENT_HISTORY): the rollover reads the status in force as
   * the new year began (agreementActiveAt), whenever it runs. Absent on rows written before it was kept.
   */
  @Prop({ type: [Object], default: undefined }) earlier?: AgreementStatus[];
}

/** One status of a partner's agreement, as an `AgreementStatusChanged` said it. */
export interface AgreementStatus {
  active: boolean;
  changedAt: Date;
  position?: { partition: number; offset: string } | null;
}
export const AgreementViewSchema = SchemaFactory.createForClass(AgreementView);
AgreementViewSchema.index(...REVISION_GUARD_INDEX);

/**
 * A bank or tax profile as payout-profiles last described it, without any secret. `rank` orders its events:
 * 2 x revision, +1 once that revision is decided (approved or action required), so the newest fact wins whatever
 * order events arrive in; among events of one rank, a bank profile's `version` (a change of its locationIds alone is
 * not a new revision).
 */
@Schema({ collection: 'profile_view', versionKey: false })
export class ProfileView {
  /** profileId */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true, type: String }) kind!: 'BANK' | 'TAX';
  @Prop({ required: true }) partnerId!: string;
  /** Tax profiles: their location. */
  @Prop() locationId?: string;
  /**
   * Bank profiles: the locations the profile serves, or `['*']`; absent (or null) when the newest event did not say,
   * as events written before payout-profiles had it: read as serving every location (servesLocation).
   */
  @Prop({ type: [String], default: undefined }) locationIds?: string[] | null;
  /** Bank profiles: the profile's version at the event, which orders events of one rank (a change of locationIds). */
  @Prop() version?: number;
  @Prop({ required: true }) revision!: number;
  @Prop({ required: true }) rank!: number;
  @Prop({ required: true, type: String }) status!: ProfileStatus;
  @Prop({ type: [String], default: [] }) reasons!: string[];
  @Prop() name?: string;
  @Prop() currency?: string;
  @Prop({ type: String }) paymentMethod?: PaymentMethod | (string & {});
  @Prop() expiresAt?: Date;
  /**
   * When the revision held was decided (approved or sent back): the deciding event's occurredAt, kept through later
   * events of the same rank (a change of locationIds). Null while pending, and for decisions recorded before it existed.
   */
  @Prop({ type: Date, default: null }) decidedAt?: Date | null;
  @Prop({ required: true }) updatedAt!: Date;
}
export const ProfileViewSchema = SchemaFactory.createForClass(ProfileView);

/** Whether a bank profile serves the location: named, '*', or not said (an older event: every location). */
export function servesLocation(view: Pick<ProfileView, 'locationIds'>, locationId: string): boolean {
  return !view.locationIds || view.locationIds.includes('*') || view.locationIds.includes(locationId);
}
ProfileViewSchema.index(...REVISION_GUARD_INDEX);
/** The tax profiles that expired since the last run (FollowExpiredTaxProfiles), in date order. */
ProfileViewSchema.index({ kind: 1, expiresAt: 1, _id: 1 });

/** The default bank profile of a location (a removed default stays as a tombstone, to order later events). */
@Schema({ collection: 'default_bank_profile_view', versionKey: false })
export class DefaultBankProfileView {
  /** locationId */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ type: String, default: null }) bankProfileId!: string | null;
  @Prop() currency?: string;
  @Prop({ required: true }) changedAt!: Date;
  /**
   * The default's version in payout-profiles after the change this document holds (the event's `version`): orders the
   * location's events. Null or absent: the change came from an event without one (then occurredAt orders).
   */
  @Prop({ type: Number }) version?: number | null;
  /** When this service recorded the assignment (its own clock, like a profile view's `updatedAt`). */
  @Prop() receivedAt?: Date;
}
export const DefaultBankProfileViewSchema = SchemaFactory.createForClass(DefaultBankProfileView);
DefaultBankProfileViewSchema.index(...REVISION_GUARD_INDEX);

/**
 * Which tax profile a location has (the last one payout-profiles told about), by location id: Enroll looks it up on
 * every call, and a lookup by `_id` is one on every server (a filter on `profile_view`'s other fields is a scan of
 * it on mongo-java-server, which ignores non-unique indexes).
 */
@Schema({ collection: 'location_tax_profile_view', versionKey: false })
export class LocationTaxProfileView {
  /** locationId */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ required: true }) profileId!: string;
}
export const LocationTaxProfileViewSchema = SchemaFactory.createForClass(LocationTaxProfileView);

export const VIEW_MODELS = [
  { name: EligibilityView.name, schema: EligibilityViewSchema },
  { name: AgreementView.name, schema: AgreementViewSchema },
  { name: ProfileView.name, schema: ProfileViewSchema },
  { name: DefaultBankProfileView.name, schema: DefaultBankProfileViewSchema },
  { name: LocationTaxProfileView.name, schema: LocationTaxProfileViewSchema },
];
