import { REVISION_GUARD_INDEX } from '@lib/messaging';
import { ProgramState, ProgramStates } from '@lib/contracts';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/** The program catalog as the enrollment service last described it (highest revision wins). */
@Schema({ collection: 'programs', versionKey: false })
export class ProgramView {
  /** programId */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) name!: string;
  @Prop({ required: true }) fiscalYear!: string;
  @Prop({ required: true }) requiresEligibility!: boolean;
  @Prop({ required: true, type: String, enum: ProgramStates }) state!: ProgramState;
  @Prop({ required: true }) revision!: number;
  /**
   * The revision of the last snapshot that may change what the program's decisions lead to (the program first known,
   * or its state, fiscal year or `requiresEligibility` changed), and the revision up to which they were read again
   * since (RecordProgram): while the second is behind the first, every snapshot, or one sent again, reads them.
   */
  @Prop() decisionsChangedAt?: number;
  @Prop() decisionsReadAt?: number;
}

export const ProgramViewSchema = SchemaFactory.createForClass(ProgramView);
ProgramViewSchema.index(...REVISION_GUARD_INDEX);
/** The overview's open programs, by name; programs may share one (views.repository.ts: openPrograms). */
export const OPEN_PROGRAMS_ORDER = { name: 1, _id: 1 } as const;
// Also the notices' programs taking enrollments (state alone, its leading key).
ProgramViewSchema.index({ state: 1, requiresEligibility: 1, ...OPEN_PROGRAMS_ORDER });
