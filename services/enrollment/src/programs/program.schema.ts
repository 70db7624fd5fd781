import { PaymentMethod, ProgramState, ProgramStates } from '@lib/contracts';
import { outboxPlugin } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

@Schema({ _id: false })
export class ProgramPayoutRules {
  @Prop({ type: [String], required: true }) allowedCurrencies!: string[];
  @Prop({ type: [String], required: true }) allowedPaymentMethods!: PaymentMethod[];
  @Prop({ required: true }) taxProfileRequired!: boolean;
}
const ProgramPayoutRulesSchema = SchemaFactory.createForClass(ProgramPayoutRules);

/** A fiscal year the program moved on from, and the payout rules it had as it left it. */
@Schema({ _id: false })
export class EarlierYear {
  @Prop({ required: true }) fiscalYear!: string;
  @Prop({ type: ProgramPayoutRulesSchema, required: true }) payoutRules!: ProgramPayoutRules;
  /**
   * The revision that moved the program on from it: a rules change the follow-up pass had not followed by then may
   * concern this year's enrollments (FollowSubmitted). Absent on years left before it was recorded. Not in the snapshot.
   */
  @Prop() leftAt?: number;
}
const EarlierYearSchema = SchemaFactory.createForClass(EarlierYear);

/**
 * A program of the catalog this service owns. `revision` counts its changes: it is the ETag for If-Match and
 * the revision of the snapshot every ProgramCreated / ProgramUpdated event carries (highest wins downstream).
 * The change and its event are one write (outbox).
 */
@Schema({ collection: 'programs', versionKey: false })
export class Program {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) name!: string;
  @Prop({ required: true }) fiscalYear!: string;
  @Prop({ required: true }) requiresEligibility!: boolean;
  @Prop({ type: ProgramPayoutRulesSchema, required: true }) payoutRules!: ProgramPayoutRules;
  @Prop({ required: true, type: String, enum: ProgramStates }) state!: ProgramState;
  @Prop({ required: true }) revision!: number;
  /**
   * The revision that last changed `requiresEligibility` from false to true (absent if it never did): its
   * ProgramUpdated, consumed back, ends the unfinished enrollments whose location an ineligible decision the open
   * program ignored (EndIneligibleProgramEnrollments). Not part of the snapshot: it only says which event does that.
   */
  @Prop() eligibilityRequiredSince?: number;
  /**
   * The revision that last changed `payoutRules` (absent if none did since it was created): the follow-up pass then
   * follows the program's ENROLLED enrollments and proposals once under the rules as they are (FollowSubmitted, its
   * `job_marks` say up to which revision it did). Not part of the snapshot.
   */
  @Prop() payoutRulesChangedAt?: number;
  /**
   * The years the program moved on from (`fiscalYear` changed), oldest first, each with the payout rules it had then:
   * the enrollments of those years stay judged by their own year's rules (payoutRulesFor), not by the next year's set
   * with or after the move (those judge the rollover's continuations). In the snapshot (for payout-profiles' readiness),
   * not in the API.
   */
  @Prop({ type: [EarlierYearSchema], default: undefined }) earlierYears?: EarlierYear[];
  /**
   * The revision that last changed `name` (absent if none did since this was recorded): the ProgramUpdated of that
   * revision (or a later one) renames the program's enrollments; the others need not read them. Not part of the snapshot.
   */
  @Prop() nameChangedAt?: number;
  /**
   * The name that revision gave it: `nameChangedAt` holds only while the program still has it (a release before these
   * renames it without moving them: during a rolling update, or after a rollback).
   */
  @Prop() nameChangedTo?: string;
  /**
   * The fingerprint of the request that created it under an Idempotency-Key: a retry of that request whose stored
   * answer is gone gets this program (201), another one 409 (its programId) or 422 (the key's derived id).
   */
  @Prop() createdByRequest?: string;
  @Prop({ required: true }) createdAt!: Date;
  @Prop({ required: true }) updatedAt!: Date;
}

export const ProgramSchema = SchemaFactory.createForClass(Program);
ProgramSchema.plugin(outboxPlugin);
// GET /v1/programs in its order (read-programs.use-case.ts: CATALOG_ORDER), all or of one state.
ProgramSchema.index({ name: 1, _id: 1 });
ProgramSchema.index({ state: 1, name: 1, _id: 1 });
