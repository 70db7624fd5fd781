import { UPDATES_PER_COMMAND } from '@lib/messaging';
import { BackgroundWork, CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { deterministicId } from '../../common/ids';
import type { EnrollmentConfig } from '../../config';
import { Enrollment, YEAR_SCAN } from '../../enrollments/enrollment.schema';
import { EnrollmentEvents } from '../../enrollments/enrollment-events';
import { TERMINAL } from '../../enrollments/enrollment-rules';
import { EnrollmentsRepository } from '../../enrollments/enrollments.repository';
import { MarkIneligible } from '../../enrollments/usecases/mark-ineligible.use-case';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { RenewalContext } from '../renewal-context';
import { RenewalDecision } from '../renewal-rules';
import type { HeldLease } from '../rollover-lease';
import type { RolloverSummary } from './roll-over-fiscal-year.use-case';

/**
 * Once a year is over, the continuations an operator's early run made (their old enrollments marked `rollover.early`)
 * are decided again on the facts as they are then: SPEC 1, Enrollment 6 continues an enrollment at the end of its
 * fiscal year "as long as the location is still eligible, the partner's agreement is active" and the payout
 * information complete. The payout information is the continuation's own business by then (it has followed its
 * profiles since: edited, rejected, withdrawn, its tax profile expiring), so only eligibility and the agreement are
 * judged again:
 *  - still continuing: the flag goes, the continuation stays as it is (`earlyConfirmed`);
 *  - the location no longer eligible for the new year, or the agreement inactive: the old enrollment EXPIRED with the
 *    reasons (EnrollmentExpired), as a run at its year end would have expired it, and its continuation INELIGIBLE
 *    ("Inactive / Ineligible") with the same reasons (EnrollmentIneligible); Enroll starts that one again once the
 *    location is eligible and the agreement active (`earlyUndone`, counted in `expired` too).
 * Killed at any point, a rerun does each once: the expiry (one guarded write, its event's id deterministic) keeps the
 * flag, the continuation is ended next (a guarded write, skipped once it is INELIGIBLE), and the flag goes last; an
 * EXPIRED one still flagged has its continuation ended whatever the facts are by then. An enrollment of a discontinued
 * program is left to the discontinuation, which ends it and its continuation alike.
 */
@Injectable()
export class ReviewEarlyRenewals {
  private readonly logger = new Logger(ReviewEarlyRenewals.name);

  constructor(
    private readonly enrollments: EnrollmentsRepository,
    private readonly programs: ReadPrograms,
    private readonly context: RenewalContext,
    private readonly events: EnrollmentEvents,
    private readonly markIneligible: MarkIneligible,
    private readonly work: BackgroundWork,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {}

  /** Reviews the flagged enrollments of the summary's year (and program), in batches; counts into `summary`. */
  async run(summary: RolloverSummary, lease: HeldLease): Promise<void> {
    const { fromFiscalYear, programId } = summary;
    const batchSize = this.config.ROLLOVER_BATCH_SIZE;
    const cursor = this.enrollments.model.collection.find(
      { fiscalYear: fromFiscalYear, ...(programId !== undefined && { programId }), 'rollover.early': true } as never,
      { projection: { outbox: 0 }, batchSize, hint: YEAR_SCAN },
    );
    try {
      let batch: Enrollment[] = [];
      for await (const doc of cursor) {
        if (this.work.stopRequested || !lease.held) {
          summary.complete = false;
          return;
        }
        batch.push(doc as unknown as Enrollment);
        if (batch.length >= batchSize) {
          await this.review(batch, summary, lease);
          batch = [];
        }
      }
      if (batch.length) await this.review(batch, summary, lease);
    } finally {
      await cursor.close().catch(() => undefined);
    }
  }

  private async review(batch: Enrollment[], summary: RolloverSummary, lease: HeldLease): Promise<void> {
    const { fromFiscalYear, toFiscalYear } = summary;
    const programs = await this.programs.all();
    const ctx = await this.context.load(batch, programs, fromFiscalYear, toFiscalYear);
    const done: string[] = [];
    const ending: Array<{ from: Enrollment; reasons: string[] }> = [];
    const expiring: Array<{ from: Enrollment; decision: RenewalDecision }> = [];
    for (const enrollment of batch) {
      if (programs.get(enrollment.programId)?.state === 'DISCONTINUED') continue; // its discontinuation ends both
      summary.earlyReviewed++;
      if (enrollment.status === 'EXPIRED') {
        // Expired by an interrupted review: its continuation's end is what is left.
        ending.push({ from: enrollment, reasons: enrollment.reasons ?? [] });
      } else if (TERMINAL.includes(enrollment.status)) {
        done.push(enrollment._id); // ended otherwise meanwhile: nothing to decide
      } else {
        const decision = ctx.decide(enrollment);
        if (decision.outcome === 'EXPIRED') {
          expiring.push({ from: enrollment, decision });
        } else {
          summary.earlyConfirmed++;
          done.push(enrollment._id);
        }
      }
    }
    if (!lease.held) {
      summary.complete = false;
      return;
    }
    const at = new Date();
    for (const { from, decision } of expiring) {
      const { reasons, missing } = decision;
      const changes = { status: 'EXPIRED' as const, reasons, missing, rollover: { toFiscalYear, outcome: 'EXPIRED' as const, at, early: true } };
      const event = this.events.event('EnrollmentExpired', { ...from, ...changes, version: from.version + 1 }, {
        previousStatus: from.status,
        // Not the early run's id (deterministicId('rollover', …)): that one is the continuation's event.
        eventId: deterministicId('rollover-review', from._id, toFiscalYear),
      });
      if (!(await this.enrollments.update(from, changes, [event]))) {
        summary.conflicts++; // changed meanwhile: the next run decides again
        continue;
      }
      summary.expired++;
      summary.earlyUndone++;
      ending.push({ from, reasons });
    }
    if (expiring.length) this.events.committed();
    for (const { from, reasons } of ending) {
      const key = { programId: from.programId, locationId: from.locationId, fiscalYear: toFiscalYear };
      try {
        await this.markIneligible.end(key, from.partnerId, reasons, (next) => next.renewedFrom === from._id && !TERMINAL.includes(next.status));
        done.push(from._id);
      } catch (error) {
        summary.conflicts++; // kept changing: the flag stays, the next run ends it
        this.logger.warn(`continuation of ${from._id} not ended: ${(error as Error).message}`);
      }
    }
    for (let i = 0; i < done.length; i += UPDATES_PER_COMMAND) {
      await this.enrollments.model.collection.updateMany(
        { _id: { $in: done.slice(i, i + UPDATES_PER_COMMAND) } } as never,
        { $unset: { 'rollover.early': '' }, $set: { updatedAt: at }, $inc: { version: 1 } } as never,
      );
    }
  }
}
