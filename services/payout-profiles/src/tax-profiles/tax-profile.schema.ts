import { ProfileStatus } from '@lib/contracts';
import { outboxPlugin } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import type { Address } from '../bank-profiles/bank-profile.schema';
import { ProfileState, SealedSecretDoc, SealedSecretSchema, ValidationRecord, ValidationRecordSchema } from '../profiles/profile.parts';
import type { Incorporation, TaxForm } from './tax-rules';
import type { SecretDigest } from '../secrets/secret-box';

export interface BusinessProfile {
  legalName: string;
  doingBusinessAs?: string;
  address: Address;
  contactEmail?: string;
}

@Schema({ _id: false })
export class TaxDocument {
  @Prop({ required: true }) fileName!: string;
  @Prop({ required: true }) contentType!: string;
  @Prop({ required: true }) sizeBytes!: number;
  @Prop({ required: true }) uploadedAt!: Date;
}
export const TaxDocumentSchema = SchemaFactory.createForClass(TaxDocument);

/** The tax profile of one location. Tax ids are only ever stored sealed. */
@Schema({ collection: 'tax_profiles', versionKey: false, timestamps: true })
export class TaxProfile implements ProfileState {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true, index: true }) partnerId!: string;
  @Prop({ required: true, unique: true }) locationId!: string;
  @Prop({ required: true, type: Object }) businessProfile!: BusinessProfile;
  @Prop({ required: true, type: String }) incorporation!: Incorporation;
  @Prop({ required: true }) incorporationCountry!: string;
  @Prop({ required: true, type: String }) taxForm!: TaxForm;
  @Prop({ type: SealedSecretSchema }) sealedTaxId?: SealedSecretDoc;
  @Prop({ type: String }) maskedTaxId?: string;
  @Prop({ type: SealedSecretSchema }) sealedVatId?: SealedSecretDoc;
  @Prop({ type: String }) maskedVatId?: string;
  /** Tax and VAT ids edits replaced or removed, as keyed digests (SecretDigest): masked when a late result quotes one. */
  @Prop({ type: [Object], default: undefined }) supersededSecrets?: SecretDigest[];
  @Prop({ type: [TaxDocumentSchema], default: [] }) documents!: TaxDocument[];
  @Prop({ required: true }) expiresAt!: Date;
  /** The expiresAt for which TaxProfileExpiring was emitted; unset when expiresAt changes. */
  @Prop({ type: Date }) expiryReportedFor?: Date;
  @Prop({ required: true, type: String }) status!: ProfileStatus;
  @Prop({ type: [String], default: [] }) reasons!: string[];
  @Prop({ required: true }) revision!: number;
  @Prop({ required: true }) version!: number;
  @Prop({ type: [ValidationRecordSchema], default: [] }) validationHistory!: ValidationRecord[];
  @Prop({ type: [String], default: [] }) decisionKeys!: string[];
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

export const TaxProfileSchema = SchemaFactory.createForClass(TaxProfile);
// The re-seal job's guarded writes filter on exactly { _id, version }: MongoDB answers them from the _id index;
// mongo-java-server (the local server) uses an index only when a filter names exactly its fields, so it gets this one.
TaxProfileSchema.index({ _id: 1, version: 1 }, { unique: true });
// The list's pages: the partner's profiles of the caller's locations in TAX_PROFILE_ORDER (locationId, _id), from the index in order.
TaxProfileSchema.index({ partnerId: 1, locationId: 1, _id: 1 });
/**
 * The expiry scan: profiles not reported yet (no `expiryReportedFor`, null in the index) by `expiresAt`. On an index of
 * `expiresAt` alone it would read every profile that ever expired, reported or not, each hour.
 */
TaxProfileSchema.index({ expiryReportedFor: 1, expiresAt: 1 });
TaxProfileSchema.plugin(outboxPlugin);
