import { decisionRef, EnrollmentStatus, ineligibleReasons } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { Program } from '../../programs/program.schema';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ViewsRepository } from '../../views/views.repository';
import { Enrollment } from '../enrollment.schema';
import { COMPLETION_FIELDS } from '../enrollment-rules';
import { EnrollmentsRepository } from '../enrollments.repository';
import { DiscontinueProgramEnrollments } from './discontinue-program-enrollments.use-case';
import { MarkIneligible } from './mark-ineligible.use-case';

/** Where a submitted enrollment is until it is ended or continued: validated, edited, or sent back for action. */
const SUBMITTED: EnrollmentStatus[] = ['VALIDATING', 'ENROLLED', 'ACTION_REQUIRED'];

export type RecheckOutcome =
  /** `renamedTo`: the program's name now, written in place of the one the writer read before a rename. */
  | { ended: null; renamedTo?: string }
  | { ended: 'DISCONTINUED'; program: Program; enrollment: Enrollment | null }
  | { ended: 'INELIGIBLE'; reasons: string[]; enrollment: Enrollment | null };

/**
 * After a write that starts an enrollment (Enroll, an invitation recorded), the program and the eligibility view are
 * read again. The writer read them before its write, while a discontinuation (its sweep, once per ProgramUpdated)
 * and an ineligible decision (its handler) write theirs and then read the enrollments: each could miss the other.
 * Reading after the write, one of the two sees the other. Discontinued now, or the newest decision for the year
 * not eligible: the enrollment is ended as the sweep or the decision ends it (same state, same event). A rename the
 * same way: renamed since the writer read the program, the rename's sweep (once per ProgramUpdated) may have run before
 * the write, so the name read now replaces the one written (where it is still that one: a later rename's sweep wins).
 */
@Injectable()
export class RecheckStart {
  constructor(
    private readonly programs: ReadPrograms,
    private readonly views: ViewsRepository,
    private readonly enrollments: EnrollmentsRepository,
    private readonly markIneligible: MarkIneligible,
    private readonly discontinue: DiscontinueProgramEnrollments,
  ) {}

  /**
   * `read`: the program as the caller read it, where reading it again after the write is not the point (an enrollment
   * started earlier, checked for what a dead request left behind); read here otherwise.
   */
  async execute(
    started: Pick<Enrollment, '_id' | 'programId' | 'locationId' | 'fiscalYear' | 'partnerId' | 'programName'>,
    read?: Program,
  ): Promise<RecheckOutcome> {
    const { _id: id, programId, locationId, fiscalYear, partnerId } = started;
    const program = read ?? (await this.programs.find(programId));
    if (program?.state === 'DISCONTINUED') {
      // A discontinued program changes no more: its last change (updatedAt) is the discontinuation.
      return { ended: 'DISCONTINUED', program, enrollment: await this.discontinue.endOne(id, program.name, program.updatedAt) };
    }
    const renamed = !read && program && started.programName !== undefined && started.programName !== program.name;
    if (renamed) await this.enrollments.renameFrom(id, started.programName!, program.name);
    const carriesOn: RecheckOutcome = renamed ? { ended: null, renamedTo: program.name } : { ended: null };
    if (program && !program.requiresEligibility) return carriesOn;
    const decision = await this.views.partnersEligibility(partnerId, programId, locationId, fiscalYear);
    if (!decision || decision.eligible) return carriesOn;
    await this.markIneligible.execute(
      { programId, locationId, fiscalYear, partnerId, eligible: false, reasons: decision.reasons },
      new Date(decision.decidedAt),
      decision.eventId,
      decisionRef(decision),
    );
    return { ended: 'INELIGIBLE', reasons: decision.reasons, enrollment: await this.enrollments.reload({ _id: id, partnerId }) };
  }

  /**
   * After Submit's write, for an enrollment never completed before: Submit read the eligibility view before its write,
   * while an ineligible decision's handler writes the view and then reads the enrollment (INVITED then): the handler's
   * guarded write then lost to Submit's, and, reading it again ENROLLED, it left it (ENROLLED keeps its year). Read
   * after the write, one of the two sees the other: the newest decision for the year not eligible, the enrollment as
   * this Submit wrote it ends INELIGIBLE with its reasons, no longer completed (COMPLETION_FIELDS cleared: Enroll starts
   * it again once eligible). Also when it changed since within this submission (`submittedAt` as written): a profile
   * edited (VALIDATING again, `enrolledAt` kept), validated (ENROLLED) or rejected (ACTION_REQUIRED) meanwhile is still
   * this Submit's completion, which nothing else checks again. Not once it was submitted again, ended or continued.
   * Also after an approval completes a submitted enrollment within its year (FollowValidation): the program made to
   * require eligibility before it, its sweep may have read the enrollment after, as completed.
   * The reasons when it ended; null otherwise.
   */
  async afterSubmit(written: Enrollment, read?: Program): Promise<string[] | null> {
    // The program as it is now, not as Submit read it: made to require eligibility in between, its sweep (which leaves
    // completed enrollments) may have read this one before the write, or after it, ENROLLED already.
    const program = (await this.programs.find(written.programId)) ?? read;
    if (!program?.requiresEligibility) return null;
    const { programId, locationId, fiscalYear, partnerId } = written;
    const decision = await this.views.partnersEligibility(partnerId, programId, locationId, fiscalYear);
    if (!decision || decision.eligible) return null;
    const reasons = ineligibleReasons(decision.reasons, fiscalYear);
    const submitted = written.submittedAt?.getTime();
    await this.markIneligible.end(
      written,
      partnerId,
      reasons,
      (current) => SUBMITTED.includes(current.status) && !current.rollover && current.submittedAt?.getTime() === submitted,
      new Date(decision.decidedAt),
      // Completed since this Submit (it was not before: ENROLLED at once, or validated since): no longer; submitted only
      // (VALIDATING): ended as any such one.
      (current) => (current.enrolledAt ? COMPLETION_FIELDS.filter((field) => current[field] !== undefined) : []),
      decisionRef(decision),
    );
    const now = await this.enrollments.reload(written);
    return now?.status === 'INELIGIBLE' ? reasons : null;
  }
}
