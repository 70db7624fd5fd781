import { PayoutRules } from '@lib/contracts';
import { BackgroundWork } from '@lib/platform';
import { Injectable, Logger } from '@nestjs/common';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { Enrollment } from '../enrollment.schema';
import { EnrollmentsRepository } from '../enrollments.repository';
import { FollowValidation } from './follow-validation.use-case';

const PAGE = 500;
/** Enrollments of a page followed at the same time (each reads its profile views, and writes only if it changes). */
const IN_FLIGHT = 8;

export interface FollowUpRun {
  /** VALIDATING enrollments read. */
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
 * This pass follows every VALIDATING enrollment once more, as the profile events' handlers do (FollowValidation: one
 * guarded write with its event, and none when nothing changes), so a result recorded meanwhile is applied. It reads
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
  ) {}

  /** A run, tracked as job `submit-follow-up` (BackgroundWork: waited for at shutdown, counted on /metrics). */
  execute(): Promise<FollowUpRun> {
    return this.work.run('submit-follow-up', () => this.followAll(), { complete: (run) => run.complete });
  }

  private async followAll(): Promise<FollowUpRun> {
    const run: FollowUpRun = { examined: 0, changed: 0, complete: true };
    for (const program of (await this.programs.all()).values()) {
      let after: string | undefined;
      for (;;) {
        if (this.work.stopRequested) return { ...run, complete: false };
        const page = await this.enrollments.ofProgramIn(program._id, ['VALIDATING'], PAGE, after);
        if (page.length === 0) break;
        for (let i = 0; i < page.length; i += IN_FLIGHT) {
          const outcomes = await Promise.all(page.slice(i, i + IN_FLIGHT).map((e) => this.followOne(e, program.payoutRules)));
          run.changed += outcomes.filter(Boolean).length;
        }
        run.examined += page.length;
        after = page[page.length - 1]._id;
      }
    }
    if (run.changed) this.logger.warn(`${run.changed} VALIDATING enrollment(s) had a validation result not applied yet (a Submit that died before its follow-up): applied`);
    return run;
  }

  /**
   * Whether this call moved the enrollment on. Null from FollowValidation: it changed between the page's read and the
   * write, so whoever changed it followed its profiles (a handler, Submit) or ended it: nothing left to do here.
   */
  private async followOne(enrollment: Enrollment, rules: PayoutRules): Promise<boolean> {
    const followed = await this.follow.apply(enrollment, rules);
    return !!followed && followed.version !== enrollment.version;
  }
}
