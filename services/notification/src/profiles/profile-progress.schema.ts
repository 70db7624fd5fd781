import { REVISION_GUARD_INDEX } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/**
 * What this service knows of one bank or tax profile, from payout-profiles.events.v1: its latest revision, and a tax
 * profile's expiry as of that revision. An email about the profile still waiting to be sent is compared with it
 * (`profileWithdrawalOf`). The highest revision wins, whatever order the events come in: a redelivered or replayed
 * event changes nothing.
 */
@Schema({ collection: 'profile_progress', versionKey: false })
export class ProfileProgress {
  /** The profile's id (`profileId` of its events). */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ required: true }) revision!: number;
  /** Tax profiles: when the forms of that revision expire (null: its event said none). */
  @Prop({ type: Date }) expiresAt?: Date | null;
}

export const ProfileProgressSchema = SchemaFactory.createForClass(ProfileProgress);
ProfileProgressSchema.index(...REVISION_GUARD_INDEX);
