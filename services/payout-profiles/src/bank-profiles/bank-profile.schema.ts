import { PaymentMethod, ProfileStatus, UNSEEN } from '@lib/contracts';
import { outboxPlugin } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { ProfileState, SealedSecretDoc, SealedSecretSchema, ValidationRecord, ValidationRecordSchema } from '../profiles/profile.parts';
import type { AccountScheme, BankIdentifiers } from './bank-account-rules';
import type { SecretDigest } from '../secrets/secret-box';

export interface Address {
  line1: string;
  line2?: string;
  city: string;
  region?: string;
  postalCode?: string;
  country: string;
}

export interface Beneficiary {
  name: string;
  email: string;
  phone?: string;
  address?: Address;
}

/**
 * A location's default points at this profile at `version` of the location's default (or is about to: the claim is
 * written before the default). `token` names the request that made the claim, so that identical requests at the same
 * time make distinct claims and a request that fails withdraws its own only; claims stored before tokens existed (and
 * those filled from default_bank_profiles) have none. See DefaultClaims.
 */
@Schema({ _id: false })
export class DefaultClaim {
  @Prop({ required: true }) locationId!: string;
  @Prop({ required: true }) version!: number;
  @Prop({ type: String }) token?: string;
}
export const DefaultClaimSchema = SchemaFactory.createForClass(DefaultClaim);

/** A partner's bank profile. The account number or IBAN is only ever stored sealed (`sealedAccount`). */
@Schema({ collection: 'bank_profiles', versionKey: false, timestamps: true })
export class BankProfile implements ProfileState {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true, index: true }) partnerId!: string;
  @Prop({ required: true }) name!: string;
  /** The name as compared for uniqueness within the partner (nameKey: NFKC-normalized, invisible characters out, spaces collapsed, case-folded). */
  @Prop({ required: true }) nameKey!: string;
  @Prop({ required: true }) country!: string;
  @Prop({ required: true }) currency!: string;
  @Prop({ required: true, type: String }) paymentMethod!: PaymentMethod;
  @Prop({ required: true, type: Object }) beneficiary!: Beneficiary;
  @Prop({ required: true, type: String }) scheme!: AccountScheme;
  @Prop({ required: true, type: Object }) bankIdentifiers!: BankIdentifiers;
  @Prop({ required: true, type: String }) secretField!: 'iban' | 'accountNumber';
  @Prop({ required: true, type: SealedSecretSchema }) sealedAccount!: SealedSecretDoc;
  @Prop({ required: true }) maskedAccount!: string;
  /** Account numbers or IBANs edits replaced, as keyed digests (SecretDigest): masked when a late result quotes one. */
  @Prop({ type: [Object], default: undefined }) supersededSecrets?: SecretDigest[];
  /**
   * The locations the profile serves, sorted, or `['*']` (every location of the partner): only their Incentives admins
   * edit it, only their enrollments choose it, only they take it as default (see profiles/permissions.ts). Absent on
   * profiles stored before it existed, which count as `['*']` (servedLocations): readable as before, editable by an
   * Incentives admin of every location only, until one narrows it.
   */
  @Prop({ type: [String], default: undefined }) locationIds?: string[];
  @Prop({ required: true, type: String }) status!: ProfileStatus;
  @Prop({ type: [String], default: [] }) reasons!: string[];
  @Prop({ required: true }) revision!: number;
  @Prop({ required: true }) version!: number;
  @Prop({ type: [ValidationRecordSchema], default: [] }) validationHistory!: ValidationRecord[];
  @Prop({ type: [String], default: [] }) decisionKeys!: string[];
  /**
   * The locations whose default this profile is, kept on the profile so that the (profile, currency) rule and the
   * edit permission are decided by one document: a default claims the profile (only while it has that currency)
   * before it is written, and a currency change needs the list empty. Absent on profiles stored before it existed
   * (filled from default_bank_profiles on first use).
   */
  @Prop({ type: [DefaultClaimSchema], default: undefined }) defaultFor?: DefaultClaim[];
  /** Bumped by every claim: a write guarded by it knows no location became a default meanwhile. */
  @Prop({ type: Number }) defaultClaims?: number;
  @Prop({ required: true }) createdBy!: string;
  /** The fingerprint of the request that created it under an Idempotency-Key (its id derives from the key). */
  @Prop() createdByRequest?: string;
  @Prop({ required: true }) updatedBy!: string;
  /**
   * When the current revision was made (created, or its details changed): a validation decision for it is dated no
   * earlier (a back office's clock behind ours, a result re-sent with its first date). Absent on profiles stored
   * before it existed: their createdAt bounds it instead.
   */
  @Prop() revisedAt?: Date;
  /**
   * When the current revision's decision was made (its events' `decidedAt`), kept while the status is that decision;
   * a new revision's leaves it stale until decided (read only with a decided status). Absent on profiles decided
   * before it existed.
   */
  @Prop() decidedAt?: Date;
  createdAt?: Date;
  updatedAt?: Date;
}

export const BankProfileSchema = SchemaFactory.createForClass(BankProfile);
BankProfileSchema.index({ partnerId: 1, nameKey: 1 }, { unique: true });
// The list's pages: the partner's profiles in BANK_PROFILE_ORDER (nameKey, _id) after a position, read from the index in order.
BankProfileSchema.index({ partnerId: 1, nameKey: 1, _id: 1 });
// The re-seal job's guarded writes filter on exactly { _id, version }: MongoDB answers them from the _id index;
// mongo-java-server (the local server) uses an index only when a filter names exactly its fields, so it gets this one.
BankProfileSchema.index({ _id: 1, version: 1 }, { unique: true });
BankProfileSchema.plugin(outboxPlugin);

/**
 * A profile name as compared (unique per partner, and the list's order): names a partner cannot tell apart are the
 * same, whatever case, spaces (runs of them, a non-breaking one), characters nobody sees (UNSEEN: a zero-width space,
 * a soft hyphen, a variation selector, a Hangul filler) or Unicode composition ("Café" typed either way).
 * Keys stored before a rule here existed (spaces and composition folded, the default-ignorable characters dropped) stay
 * as they were until the profile is next written: a new name that only such a rule makes equal to it is not refused.
 */
export function nameKey(name: string): string {
  // Characters nobody sees (zero-width space and joiners, soft hyphen, variation selectors, fillers) do not tell two
  // names apart.
  const lower = name.normalize('NFKC').replace(UNSEEN, '').trim().replace(/\s+/g, ' ').toLowerCase();
  return lower.replace(FOLDED_APART, (ch) => ch.toUpperCase().toLowerCase()).normalize('NFKC');
}

/**
 * Letters whose lower case is not yet their case folding, each folded through its upper case (the Unicode full case
 * folding for these): "ß" and "ẞ" are "ss" ("Straße", "STRASSE"), a final "ς" is "σ", a long "ſ" is "s".
 * ASCII folds by lower case, and the dotless "ı" stays itself: through "I" it would be "i", another letter in Turkish.
 */
const FOLDED_APART = /[^\u0000-\u007f\u0131]/gu;
