import { ProgramState } from '@lib/contracts';
import { REVISION_GUARD_INDEX } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/**
 * This service's view of a program, from programs.events.v1 (the highest revision wins): what an email about one of
 * its invitations still waiting to be sent is checked against (`withdrawalOf`). Only what that check reads.
 */
@Schema({ collection: 'programs', versionKey: false })
export class ProgramView {
  /** The program's id (`programId`). */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true, type: String }) state!: ProgramState;
  /** Its current fiscal year: Enroll enrolls in this one only. */
  @Prop({ required: true }) fiscalYear!: string;
  @Prop({ required: true }) revision!: number;
  /** `occurredAt` of the event of that revision: when the program became as it is (by the enrollment service's clock). */
  @Prop() changedAt?: Date;
}

export const ProgramViewSchema = SchemaFactory.createForClass(ProgramView);
ProgramViewSchema.index(...REVISION_GUARD_INDEX);
