import { EnrollmentStatus, fiscalYearBefore, PayoutRules, payoutRulesFor } from '@lib/contracts';
import { BackgroundWork } from '@lib/platform';
import { Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { FilterQuery, Model } from 'mongoose';
import type { Program } from '../../programs/program.schema';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { Enrollment } from '../enrollment.schema';
import { EnrollmentsRepository } from '../enrollments.repository';
import { JobMark } from '../job-mark.schema';
import { EnrollLocation } from './enroll-location.use-case';
import { FollowValidation } from './follow-validation.use-case';

const PAGE = 500;
/** Enrollments of a page followed at the same time (each reads its profile views, and writes only if it changes). */
const IN_FLIGHT = 8;

/**
 * Followed again by each run: VALIDATING ones (a validation result a dead Submit left unapplied), and ACTION_REQUIRED
 * ones submitted under payout rules relaxed since (a currency allowed again, a tax profile no longer required: no
 * profile event comes to take them on). Not submitted ones (proposals) are left as they are (FollowValidation).
 */
const FOLLOWED: EnrollmentStatus[] = ['VALIDATING', 'ACTION_REQUIRED'];
/**
 * And ENROLLED ones, in a program whose payout rules changed (`payoutRulesChangedAt`, a revision) after the revision its
 * enrollments were last followed at (`job_marks`, one per program): rules made stricter (a currency no longer allowed,
 * a tax profile now required) reach every one of them, not only those some profile event happens to follow. So do its
 * proposals (started, not submitted: INVITED or ACTION_REQUIRED), evaluated again as Continue would
 * (EnrollLocation.reevaluate): their next action and what they list as missing follow the rules as they are. Those
 * of the program's fiscal year and later (`inRun`).
 */
const FOLLOWED_AFTER_RULES_CHANGED: EnrollmentStatus[] = [...FOLLOWED, 'ENROLLED', 'INVITED'];

export interface FollowUpRun {
  /** Submitted enrollments followed (VALIDATING, ACTION_REQUIRED; ENROLLED and proposals in programs whose rules changed). */
  examined: number;
  /** Those that moved on (ENROLLED, ACTION_REQUIRED, a bank choice withdrawn), each with its event. */
  changed: number;
  /** False when shutdown stopped it between two pages (the next run reads them all again). */
  complete: boolean;
}

/**
 * Submit follows the profiles once more after its write (SubmitEnrollment.followAfterSubmit): a validation result
 * recorded between the views Submit read and its write is seen by neither side otherwise (the result's handler found
 * the enrollment not submitted yet). A Submit that dies between its write and that follow-up (a crash, a deploy, the
 * database gone a moment: the caller gets no answer or a 5xx) leaves the enrollment VALIDATING with a result that no
 * event brings again, until its profiles change or the admin submits again.
 *
 * This pass follows every submitted VALIDATING or ACTION_REQUIRED enrollment once more (FOLLOWED; ENROLLED ones too
 * where the program's payout rules changed since, FOLLOWED_AFTER_RULES_CHANGED), as the profile
 * events' handlers do (FollowValidation: one guarded write with its event, and none when nothing changes), with its
 * program's payout rules as they are now, so a result recorded meanwhile is applied, and so are rules an operator
 * changed (a PATCH itself changes no enrollment). It reads
 * them per program, a page at a time in `_id` order (the `{ programId, status, _id }` index of the program sweeps),
 * and runs at start and on a schedule (FollowUpScheduler). Stopped by shutdown between two pages; once shutdown
 * has begun a run does not start (503).
 */
@Injectable()
export class FollowSubmitted {
  private readonly logger = new Logger(FollowSubmitted.name);

  constructor(
    private readonly enrollments: EnrollmentsRepository,
    private readonly programs: ReadPrograms,
    private readonly follow: FollowValidation,
    private readonly work: BackgroundWork,
    @InjectModel(JobMark.name) private readonly marks: Model<JobMark>,
    private readonly proposals: EnrollLocation,
  ) {}

  /** A run, tracked as job `submit-follow-up` (BackgroundWork: waited for at shutdown, counted on /metrics). */
  execute(): Promise<FollowUpRun> {
    return this.work.run('submit-follow-up', () => this.followAll(), { complete: (run) => run.complete });
  }

  private async followAll(): Promise<FollowUpRun> {
    const run: FollowUpRun = { examined: 0, changed: 0, complete: true };
    for (const programId of (await this.programs.all()).keys()) {
      const first = await this.programs.find(programId);
      if (!first) continue;
      const markId = `payout-rules-followed:${programId}`;
      const followed = (await this.marks.findById(markId).lean<JobMark>())?.revision ?? 0;
      const rulesChanged = (first.payoutRulesChangedAt ?? 0) > followed;
      const statuses = rulesChanged ? FOLLOWED_AFTER_RULES_CHANGED : FOLLOWED;
      // Whether every enrollment of the program was followed under the rules read first: then the mark says so.
      let followedUnderRules = rulesChanged;
      let after: string | undefined;
      for (;;) {
        if (this.work.stopRequested) return { ...run, complete: false };
        // The program's rules (and year) as they are now, each page (a run is long: an operator may change them meanwhile),
        // and once more after the last one: a change while a page was read or followed is seen, and not marked followed.
        const program = await this.programs.find(programId);
        if (!program) break;
        if (program.revision !== first.revision) followedUnderRules = false;
        const fromYear = rulesChangedFrom(program, followed);
        const read = await this.enrollments.ofProgramIn(programId, statuses, PAGE, after, inRunFilter(rulesChanged, fromYear));
        if (read.length === 0) break;
        const page = read.filter((e) => inRun(e, rulesChanged, fromYear));
        for (let i = 0; i < page.length; i += IN_FLIGHT) {
          const outcomes = await Promise.all(page.slice(i, i + IN_FLIGHT).map((e) => this.followOne(e, payoutRulesFor(program, e.fiscalYear))));
          run.changed += outcomes.filter((o) => o === 'changed').length;
          // Changed by someone else between the read and the write: a handler or a request that may have read the
          // program before its rules changed. The next run follows it again.
          if (outcomes.includes('raced')) followedUnderRules = false;
        }
        run.examined += page.length;
        after = read[read.length - 1]._id;
      }
      if (followedUnderRules) await this.marks.updateOne({ _id: markId }, { $max: { revision: first.revision } }, { upsert: true });
    }
    if (run.changed) this.logger.warn(`${run.changed} submitted enrollment(s) moved on (a validation result a Submit that died left unapplied, or payout rules changed since): applied`);
    return run;
  }

  /**
   * What this call did: moved the enrollment on (`changed`), found it as it should be (`same`), or found it changed
   * between the page's read and the write (`raced`: null from FollowValidation or reevaluate), so whoever changed it
   * followed its profiles (a handler, Submit) or ended it.
   */
  private async followOne(enrollment: Enrollment, rules: PayoutRules): Promise<'changed' | 'same' | 'raced'> {
    const followed = enrollment.submittedAt ? await this.follow.apply(enrollment, rules) : await this.proposals.reevaluate(enrollment);
    if (!followed) return 'raced';
    return followed.version !== enrollment.version ? 'changed' : 'same';
  }
}

/**
 * The earliest year a rules change not followed yet (since revision `followed`) may concern: the program's year, or one
 * it moved on from since (its rules changed before it left, the pass not run in between), which keeps those rules.
 */
export function rulesChangedFrom(program: Pick<Program, 'fiscalYear' | 'earlierYears'>, followed: number): string {
  return (program.earlierYears ?? []).find((earlier) => (earlier.leftAt ?? 0) > followed)?.fiscalYear ?? program.fiscalYear;
}

/**
 * Whether a run follows this enrollment: a submitted one not ENROLLED (FOLLOWED) always; after a rules change, an
 * ENROLLED one or a proposal (started: evaluated) only of `fromYear` (rulesChangedFrom: the program's fiscal year, or
 * one it left since the change) or a later one (an early renewal). An enrollment of a year before (the program moved
 * on to the next one, with new rules, before the year's end) stays enrolled under the rules of its own year, as SPEC
 * 1.6 has it (the rollover judges its continuation by the new year's); nor is it read again after every change of the
 * next year's.
 */
export function inRun(enrollment: Enrollment, rulesChanged: boolean, fromYear: string): boolean {
  if (enrollment.submittedAt && enrollment.status !== 'ENROLLED') return true;
  if (!rulesChanged || !(enrollment.submittedAt || enrollment.evaluatedAt)) return false;
  return !fiscalYearBefore(enrollment.fiscalYear, fromYear);
}

/**
 * inRun as the page's query: the server leaves out what the run would not follow (after a rules change, every earlier
 * year's ENROLLED enrollment of the program, a document per location and year), and never-started invitations. Years
 * named as FY27 compare as strings as they do in time (fiscalYearBefore).
 */
export function inRunFilter(rulesChanged: boolean, fromYear: string): FilterQuery<Enrollment> {
  const submitted = { submittedAt: { $exists: true } };
  if (!rulesChanged) return submitted; // FOLLOWED: none ENROLLED
  const ofTheYearOn = { fiscalYear: { $gte: fromYear } };
  return { $or: [{ ...submitted, status: { $ne: 'ENROLLED' } }, { ...submitted, ...ofTheYearOn }, { evaluatedAt: { $exists: true }, ...ofTheYearOn }] };
}
