import { REVISION_GUARD_INDEX } from '@lib/messaging';
import { ProgramState, ProgramStates } from '@lib/contracts';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/** What a program's decisions lead to depends on these (the rules read nothing else of it). */
export type DecisionsReadFor = Pick<ProgramView, 'state' | 'fiscalYear' | 'requiresEligibility'>;

/** Whether the program is still as it was when its decisions were last read through. */
export function decisionsReadAsIs(program: ProgramView): boolean {
  const read = program.decisionsReadFor;
  return !!read && read.state === program.state && read.fiscalYear === program.fiscalYear && read.requiresEligibility === program.requiresEligibility;
}

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
   * What the program was (state, fiscal year, `requiresEligibility`: what the rules read of it) when its decisions were
   * last read through (RecordProgram): a snapshot finding it otherwise reads them again. Not a revision, so that a
   * snapshot stored by a release before it, or by one that does not write it, is still followed through.
   */
  @Prop({ type: Object }) decisionsReadFor?: DecisionsReadFor;
}

export const ProgramViewSchema = SchemaFactory.createForClass(ProgramView);
ProgramViewSchema.index(...REVISION_GUARD_INDEX);
/** The overview's open programs, by name; programs may share one (views.repository.ts: openPrograms). */
export const OPEN_PROGRAMS_ORDER = { name: 1, _id: 1 } as const;
// Also the notices' programs taking enrollments (state alone, its leading key).
ProgramViewSchema.index({ state: 1, requiresEligibility: 1, ...OPEN_PROGRAMS_ORDER });
