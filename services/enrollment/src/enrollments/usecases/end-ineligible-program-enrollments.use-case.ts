import { decisionRef } from '@lib/contracts';
import { findByIds, IDS_PER_LOOKUP } from '@lib/messaging';
import { Injectable, Logger } from '@nestjs/common';
import { eligibilityId } from '../../common/ids';
import { endsIneligibleEnrollments } from '../../programs/program-rules';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { wasCompleted } from '../../rollover/renewal-rules';
import type { EligibilityView } from '../../views/views.schemas';
import { ViewsRepository } from '../../views/views.repository';
import { Enrollment } from '../enrollment.schema';
import { BEFORE_ENROLLED, partnersDecision } from '../enrollment-rules';
import { EnrollmentsRepository } from '../enrollments.repository';
import { MarkIneligible } from './mark-ineligible.use-case';
import { reopenable, ReopenInvitation } from './reopen-invitation.use-case';

const PAGE = 500;
const MAX_ROUNDS = 10_000;

/**
 * An open program ignores ineligible decisions (its enrollments go on), but the eligibility view keeps them. When the
 * program comes to require eligibility, the enrollments it would have ended had it required it all along end now:
 * every one never completed (INVITED, ACTION_REQUIRED or VALIDATING without `enrolledAt`: not wasCompleted) whose
 * location's decision for the enrollment's fiscal year is explicitly not eligible becomes INELIGIBLE with the
 * decision's reasons, through MarkIneligible (the same guarded write and EnrollmentIneligible as a live decision).
 * No decision for the year, or an eligible one: left as it is (nothing was decided against it; an open program's
 * locations are not expected to have decisions at all). Completed ones keep their year, as with a live decision.
 *
 * Like the discontinuation, it runs when this service consumes its own ProgramUpdated, the one of the revision that
 * made the program require eligibility (Program.eligibilityRequiredSince), so a crash between the program's write and
 * the end of the sweep is finished by the redelivery. It is idempotent: an enrollment ended is INELIGIBLE, not
 * selected again, and MarkIneligible leaves one already INELIGIBLE. Pages of enrollments in `_id` order (those left
 * stay in the selection), the views read by `_id` in lookups of IDS_PER_LOOKUP, the ends written IDS_PER_LOOKUP at a
 * time (their reads by `_id` share lookups of that size), each filtered on `_id` and `version`.
 *
 * The program is read again before each chunk's writes: made open again (or discontinued) meanwhile, the sweep stops
 * (the enrollments it ended before stay INELIGIBLE, as ended by a live decision).
 *
 * Races, as elsewhere: the program is written before this reads the views and enrollments; a decision's handler
 * writes the view before it reads the program, an Enroll writes the enrollment before it reads the program and the
 * view again (RecheckStart): one of the two sides sees the other. An eligible decision handled between this read of
 * the view and its write finds the enrollment not ended yet: once the ends are written, those ended while only invited
 * are read again against the views (reopenOvertaken), and one whose newest decision is eligible is INVITED again
 * (EnrollmentIneligible then EnrollmentInvited); one started stays INELIGIBLE.
 */
@Injectable()
export class EndIneligibleProgramEnrollments {
  private readonly logger = new Logger(EndIneligibleProgramEnrollments.name);

  constructor(
    private readonly programs: ReadPrograms,
    private readonly enrollments: EnrollmentsRepository,
    private readonly views: ViewsRepository,
    private readonly markIneligible: MarkIneligible,
    private readonly reopen: ReopenInvitation,
  ) {}

  /** For the ProgramUpdated of `revision`; returns how many enrollments it found to end (0 for any other revision). */
  async execute(programId: string, revision: number, heartbeat?: () => Promise<void>): Promise<number> {
    if (!endsIneligibleEnrollments(await this.programs.find(programId), revision)) return 0;
    let found = 0;
    let after: string | undefined;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const page = await this.enrollments.ofProgramIn(programId, BEFORE_ENROLLED, PAGE, after);
      if (page.length === 0) break;
      after = page[page.length - 1]._id;
      const unfinished = page.filter((e) => !wasCompleted(e));
      for (let i = 0; i < unfinished.length; i += IDS_PER_LOOKUP) {
        // The program too, a chunk at a time: an operator who makes it open again (or discontinues it) while this runs
        // stops it there, as the revision's handling would do nothing once that is recorded.
        if (!endsIneligibleEnrollments(await this.programs.find(programId), revision)) {
          this.logger.log(`program ${programId} changed since revision ${revision} made it require eligibility: stopped after ${found} enrollment(s) ended`);
          return found;
        }
        // The views are read right before the writes, a chunk at a time: an eligible decision handled meanwhile (on
        // another topic than this event) must not be overtaken by an ineligible one read long before.
        const ending = await this.notEligible(programId, unfinished.slice(i, i + IDS_PER_LOOKUP));
        found += ending.length;
        await Promise.all(
          ending.map(({ enrollment, reasons, named }) =>
            this.markIneligible.execute(
              {
                programId,
                locationId: enrollment.locationId,
                partnerId: enrollment.partnerId,
                fiscalYear: enrollment.fiscalYear,
                eligible: false,
                reasons,
              },
              undefined,
              undefined,
              named,
            ),
          ),
        );
      }
      await heartbeat?.();
    }
    await this.reopenOvertaken(programId, heartbeat);
    if (found) this.logger.log(`program ${programId} requires eligibility (revision ${revision}): ${found} unfinished enrollment(s) of locations not eligible ended`);
    return found;
  }

  /**
   * An eligible decision handled between the sweep's read of a view and its write found the enrollment still INVITED
   * (nothing for it to reopen), and the sweep then ended it on the older decision. So once the ends are written, the
   * program's enrollments ended INELIGIBLE while only invited are read again against the views (ReopenInvitation: the
   * newest decision eligible makes one INVITED again, as a recorded invitation does), also by a redelivery after a
   * crash between the two. The others are left as they are (ReopenInvitation finds nothing to do).
   */
  private async reopenOvertaken(programId: string, heartbeat?: () => Promise<void>): Promise<void> {
    let after: string | undefined;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const page = await this.enrollments.ofProgramIn(programId, ['INELIGIBLE'], PAGE, after);
      if (page.length === 0) return;
      after = page[page.length - 1]._id;
      const candidates = page.filter(reopenable);
      for (let i = 0; i < candidates.length; i += IDS_PER_LOOKUP) {
        await Promise.all(
          candidates.slice(i, i + IDS_PER_LOOKUP).map((e) => this.reopen.execute({ programId, locationId: e.locationId, partnerId: e.partnerId, fiscalYear: e.fiscalYear })),
        );
      }
      await heartbeat?.();
    }
  }

  /** The enrollments among `unfinished` whose location's decision for their fiscal year is not eligible. */
  private async notEligible(programId: string, unfinished: Enrollment[]) {
    if (unfinished.length === 0) return [];
    const ids = [...new Set(unfinished.map((e) => eligibilityId(programId, e.locationId)))];
    const views = await findByIds<EligibilityView>(this.views.eligibilityModel.collection as never, ids, { years: 1 });
    return unfinished.flatMap((enrollment) => {
      const years = views.get(eligibilityId(programId, enrollment.locationId))?.years;
      const decision = partnersDecision(years, enrollment.fiscalYear, enrollment.partnerId);
      // Ended now, by the program's change, on this decision: the event names it (EnrollmentIneligible.decision).
      if (decision?.eligible !== false) return [];
      return [{ enrollment, reasons: decision.reasons, named: decision.eventId && decision.decidedAt ? decisionRef(decision) : undefined }];
    });
  }
}
