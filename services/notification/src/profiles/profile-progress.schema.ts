import { REVISION_GUARD_INDEX } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/**
 * What this service knows of one bank or tax profile, from payout-profiles.events.v1: its latest revision, a tax
 * profile's expiry as of that revision, and the locations a bank profile serves. An email about the profile still
 * waiting to be sent is compared with it (`profileWithdrawalOf`, `locationsStillServed`). The highest revision wins,
 * and within it the highest version (a change of `locationIds` alone), whatever order the events come in: a
 * redelivered or replayed event changes nothing.
 */
@Schema({ collection: 'profile_progress', versionKey: false })
export class ProfileProgress {
  /** The profile's id (`profileId` of its events). */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ required: true }) revision!: number;
  /** Tax profiles: when the forms of that revision expire (null: its event said none). */
  @Prop({ type: Date }) expiresAt?: Date | null;
  /** Bank profiles: the profile's version (its ETag) in that event (null: the event carried none, written before it did). */
  @Prop({ type: Number }) version?: number | null;
  /** Bank profiles: the locations it serves (`['*']`: every one; null: a tax profile, or an event written before them). */
  @Prop({ type: [String], default: undefined }) locationIds?: string[] | null;
}

export const ProfileProgressSchema = SchemaFactory.createForClass(ProfileProgress);
ProfileProgressSchema.index(...REVISION_GUARD_INDEX);
