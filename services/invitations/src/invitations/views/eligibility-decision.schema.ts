import { LogPosition } from '@lib/contracts';
import { REVISION_GUARD_INDEX } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/**
 * The latest eligibility decision per (program, location, fiscal year), with the same id as the invitation.
 * Kept even when the program is not known yet, so that the invitation is issued once the program arrives.
 */
@Schema({ collection: 'eligibility_decisions', versionKey: false })
export class EligibilityDecisionView {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) programId!: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ required: true }) locationId!: string;
  @Prop({ required: true }) fiscalYear!: string;
  @Prop({ required: true }) eligible!: boolean;
  @Prop({ type: [String], default: [] }) reasons!: string[];
  /** `occurredAt` of the decision: an older decision delivered late never replaces a newer one. */
  @Prop({ required: true }) decidedAt!: Date;
  @Prop({ required: true }) eventId!: string;
  /** Where it was read on eligibility.decisions.v1 (laterDecision; absent on decisions kept before it was recorded). */
  @Prop({ type: Object }) position?: LogPosition;
  /**
   * Other partners' latest decisions, set aside while identity had not made the location known (keepDecision): a
   * later one naming another partner does not lose the owner's, which `ViewsRepository.confirmOwner` makes the
   * decision once the location is known.
   */
  @Prop({ type: [Object], default: undefined }) otherPartners?: SetAsideDecision[];
}

/** A decision as kept in the view (the top-level fields, or one set aside in `otherPartners`). */
export interface SetAsideDecision {
  partnerId: string;
  eligible: boolean;
  reasons: string[];
  decidedAt: Date;
  eventId: string;
  position?: LogPosition;
}

export const EligibilityDecisionViewSchema = SchemaFactory.createForClass(EligibilityDecisionView);
EligibilityDecisionViewSchema.index(...REVISION_GUARD_INDEX);
/** A program's decisions of one fiscal year, in `_id` order (a program change). */
EligibilityDecisionViewSchema.index({ programId: 1, fiscalYear: 1, _id: 1 });
EligibilityDecisionViewSchema.index({ partnerId: 1, locationId: 1 });
EligibilityDecisionViewSchema.index({ 'otherPartners.partnerId': 1 });
