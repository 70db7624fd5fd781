import { EarlierYearRules, PayoutRules, ProgramState } from '@lib/contracts';
import { REVISION_GUARD_INDEX } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/** This service's view of a program, from programs.events.v1 (highest revision wins). */
@Schema({ collection: 'programs', versionKey: false })
export class Program {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) name!: string;
  @Prop({ required: true }) fiscalYear!: string;
  @Prop({ required: true }) requiresEligibility!: boolean;
  @Prop({ required: true, type: Object }) payoutRules!: PayoutRules;
  @Prop({ required: true, type: String }) state!: ProgramState;
  @Prop({ required: true }) revision!: number;
  /** The years it moved on from, with the rules each had (the snapshot's): readiness judges those years by them. */
  @Prop({ type: [Object], default: undefined }) earlierYears?: EarlierYearRules[];
}

export const ProgramSchema = SchemaFactory.createForClass(Program);
ProgramSchema.index(...REVISION_GUARD_INDEX);
