import { REVISION_GUARD_INDEX } from '@lib/messaging';
import { ProgramState, ProgramStates } from '@lib/contracts';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/**
 * What a program's decisions lead to depends on these (the rules read nothing else of it); `revision`: the view's when
 * they were read.
 */
export type DecisionsReadFor = Pick<ProgramView, 'state' | 'fiscalYear' | 'requiresEligibility' | 'revision'>;

/**
 * Whether the program is as it was when its decisions were last read through, and did not change in between
 * (`decisionsChangedAt`, written with every snapshot changing one of those: closed and reopened since, a decision
 * recorded while it was closed was not invited).
 */
export function decisionsReadAsIs(program: ProgramView): boolean {
  const read = program.decisionsReadFor;
  if (!read || read.state !== program.state || read.fiscalYear !== program.fiscalYear || read.requiresEligibility !== program.requiresEligibility) return false;
  return (program.decisionsChangedAt ?? 0) <= read.revision;
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
   * The revision of the last snapshot that changed what the rules read of the program (first known, or its state,
   * fiscal year or `requiresEligibility` changed).
   */
  @Prop() decisionsChangedAt?: number;
  /**
   * What the program was (state, fiscal year, `requiresEligibility`, and the view's revision) when its decisions were
   * last read through (RecordProgram): a snapshot finding it otherwise, or changed since, reads them again. Compared
   * by what the program is, so that a snapshot an earlier release stored, whose handling was cut short, is followed
   * through too.
   */
  @Prop({ type: Object }) decisionsReadFor?: DecisionsReadFor;
}

export const ProgramViewSchema = SchemaFactory.createForClass(ProgramView);
ProgramViewSchema.index(...REVISION_GUARD_INDEX);
/** The overview's open programs, by name; programs may share one (views.repository.ts: openPrograms). */
export const OPEN_PROGRAMS_ORDER = { name: 1, _id: 1 } as const;
// Also the notices' programs taking enrollments (state alone, its leading key).
ProgramViewSchema.index({ state: 1, requiresEligibility: 1, ...OPEN_PROGRAMS_ORDER });
