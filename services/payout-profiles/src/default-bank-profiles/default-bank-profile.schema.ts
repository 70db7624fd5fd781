import { outboxPlugin } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/**
 * The default (bank profile, currency) of one location: one document per location that ever had a default,
 * so that at most one default exists per location (unique locationId) and a removal keeps its event in the
 * same write (the document stays, with bankProfileId null).
 */
@Schema({ collection: 'default_bank_profiles', versionKey: false, timestamps: true })
export class DefaultBankProfile {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true, unique: true }) locationId!: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ type: String, default: null, index: true }) bankProfileId!: string | null;
  @Prop({ type: String, default: null }) currency!: string | null;
  @Prop({ required: true }) version!: number;
  @Prop({ required: true }) changedBy!: string;
  @Prop({ required: true }) changedAt!: Date;
}

export const DefaultBankProfileSchema = SchemaFactory.createForClass(DefaultBankProfile);
DefaultBankProfileSchema.plugin(outboxPlugin);
/** The list of a partner's defaults (GET /v1/default-bank-profiles), a page at a time in `_id` order; its prefix finds a partner's. */
DefaultBankProfileSchema.index({ partnerId: 1, _id: 1 });

/**
 * Whether `If-Match: expected` holds for the location's default as stored: its version, or 0 while it has none (never
 * had one, or removed: GET answers 404 then, with no version to send back, and the header is documented as "the version
 * read, 0 when none"). A removed one's own version matches too.
 */
export function defaultVersionMatches(stored: Pick<DefaultBankProfile, 'version' | 'bankProfileId'> | null | undefined, expected: number): boolean {
  if (stored?.bankProfileId) return stored.version === expected;
  return expected === 0 || expected === stored?.version;
}
