import { decisionRef } from '@lib/contracts';
import { findByIds, UPDATES_PER_COMMAND } from '@lib/messaging';
import { BackgroundWork, CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { scanInBatches } from '../../common/bulk';
import { deterministicId, enrollmentId } from '../../common/ids';
import type { EnrollmentConfig } from '../../config';
import { EARLY_SCAN, Enrollment } from '../../enrollments/enrollment.schema';
import { EnrollmentEvents } from '../../enrollments/enrollment-events';
import { COMPLETION_FIELDS, TERMINAL } from '../../enrollments/enrollment-rules';
import { changedEnrollment, EnrollmentsRepository } from '../../enrollments/enrollments.repository';
import { MarkIneligible } from '../../enrollments/usecases/mark-ineligible.use-case';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { BatchContext, NextYearEnrollment, RenewalContext } from '../renewal-context';
import { endedUnfinished, RenewalDecision } from '../renewal-rules';
import type { HeldLease } from '../rollover-lease';
import type { RolloverSummary } from './roll-over-fiscal-year.use-case';

/**
 * Whether `next` is the live continuation of `from`: its own (`renewedFrom`), not ended INELIGIBLE before it was ever
 * ENROLLED. A SUPERSEDED mark (the next year enrolled on its own) has none: reviewed as a reopened one, the main pass marks
 * it SUPERSEDED again, or takes that enrollment over when it was never submitted.
 */
export function continuesIt(from: Enrollment, next: NextYearEnrollment | undefined): boolean {
  return next !== undefined && next.renewedFrom === from._id && !endedUnfinished(next);
}

/** Guarded writes of one continuation before leaving it to the next run. */
const ATTEMPTS = 8;

/**
 * Once a year is over, the continuations an operator's early run made (their old enrollments marked `rollover.early`)
 * are decided again on the facts as they are then: SPEC 1, Enrollment 6 continues an enrollment at the end of its
 * fiscal year "as long as the location is still eligible, the partner's agreement is active" and the payout
 * information complete. The payout information is the continuation's own business by then (it has followed its
 * profiles since: edited, rejected, withdrawn, its tax profile expiring), so only eligibility and the agreement are
 * judged again:
 *  - still continuing, and the continuation live: the flag goes, the continuation stays as it is (`earlyConfirmed`);
 *  - still continuing, but the continuation ended INELIGIBLE meanwhile (never completed: an ineligible decision for the
 *    new year, overruled since): the mark goes, and the run's main pass, which comes next, decides the old one as any
 *    unmarked one at year end, taking that continuation over (`earlyReopened`);
 *  - the location no longer eligible for the new year, or the agreement inactive: the old enrollment EXPIRED with the
 *    reasons (EnrollmentExpired), as a run at its year end would have expired it, and its continuation INELIGIBLE
 *    ("Inactive / Ineligible") with the same reasons (EnrollmentIneligible), no longer counting as completed
 *    (`enrolledAt` and its submission cleared: Enroll starts it again as new) (`earlyUndone`).
 * Killed at any point, a rerun does each once: the expiry (one guarded write, its event's id deterministic) keeps the
 * flag, the continuation is ended next (a guarded write, skipped once it is final), and the flag goes last; an
 * EXPIRED one still flagged has its continuation ended whatever the facts are by then, unless the admin started it
 * again since (Enroll clears `renewedFrom`). An enrollment of a discontinued program is left to the discontinuation,
 * which ends it and its continuation alike (the flag goes once it has).
 */
@Injectable()
export class ReviewEarlyRenewals {
  private readonly logger = new Logger(ReviewEarlyRenewals.name);

  constructor(
    private readonly enrollments: EnrollmentsRepository,
    private readonly programs: ReadPrograms,
    private readonly context: RenewalContext,
    private readonly events: EnrollmentEvents,
    private readonly work: BackgroundWork,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
    private readonly markIneligible: MarkIneligible,
  ) {}

  /** Reviews the flagged enrollments of the summary's year (and program; `only`: these of them), in batches; counts into `summary`. */
  async run(summary: RolloverSummary, lease: HeldLease, only?: string[]): Promise<void> {
    const { fromFiscalYear, programId } = summary;
    const batchSize = this.config.ROLLOVER_BATCH_SIZE;
    const scan = scanInBatches<Enrollment>(
      this.enrollments.model.collection,
      { fiscalYear: fromFiscalYear, ...(programId !== undefined && { programId }), 'rollover.early': true, ...(only && { _id: { $in: only } }) },
      { batchSize, hint: EARLY_SCAN, projection: { outbox: 0 }, inIdOrder: false, pauseMs: this.config.ROLLOVER_BATCH_PAUSE_MS, stopping: () => this.work.stopRequested },
    );
    try {
      let batch: Enrollment[] = [];
      for await (const doc of scan) {
        if (this.work.stopRequested || !lease.held) {
          summary.complete = false;
          return;
        }
        batch.push(doc);
        // The scan pauses after each batch it reads (ROLLOVER_BATCH_PAUSE_MS): the same size as these.
        if (batch.length >= batchSize) {
          await this.review(batch, summary, lease);
          batch = [];
        }
      }
      if (batch.length) await this.review(batch, summary, lease);
    } finally {
      await scan.return(undefined);
    }
  }

  private async review(batch: Enrollment[], summary: RolloverSummary, lease: HeldLease): Promise<void> {
    const { fromFiscalYear, toFiscalYear } = summary;
    const programs = await this.programs.all();
    const ctx = await this.context.load(batch, programs, fromFiscalYear, toFiscalYear);
    const next = await ctx.nextYear(batch);
    const done: string[] = [];
    const reopening: Array<{ from: Enrollment; continuation?: NextYearEnrollment }> = [];
    const ending: Array<{ from: Enrollment; reasons: string[]; ineligibleBy?: RenewalDecision['ineligibleBy'] }> = [];
    const expiring: Array<{ from: Enrollment; decision: RenewalDecision }> = [];
    const carrying: string[] = [];
    for (const enrollment of batch) {
      if (enrollment.status !== 'EXPIRED' && TERMINAL.includes(enrollment.status)) {
        done.push(enrollment._id); // ended otherwise (the discontinuation): nothing to decide
        continue;
      }
      if (programs.get(enrollment.programId)?.state === 'DISCONTINUED') {
        // Its discontinuation ends both, and the flag goes once it has: the old one DISCONTINUED (above), or one EXPIRED
        // by an interrupted review (which the discontinuation leaves as it is) once its continuation has ended.
        const continuation = next.get(ctx.nextId(enrollment));
        const live = continuation !== undefined && continuation.renewedFrom === enrollment._id && !TERMINAL.includes(continuation.status);
        if (enrollment.status === 'EXPIRED' && !live) done.push(enrollment._id);
        continue;
      }
      summary.earlyReviewed++;
      if (enrollment.status === 'EXPIRED') {
        // Expired by an interrupted review: its continuation's end is what is left (naming the decision, as then).
        ending.push({ from: enrollment, reasons: enrollment.reasons ?? [], ineligibleBy: ctx.decide(enrollment).ineligibleBy });
        continue;
      }
      const decision = ctx.decide(enrollment);
      const continuation = next.get(ctx.nextId(enrollment));
      if (decision.outcome === 'EXPIRED') {
        expiring.push({ from: enrollment, decision });
      } else if (!continuesIt(enrollment, continuation)) {
        // Its continuation ended since (an ineligible decision now overruled), or is no longer its continuation (the
        // admin started it again after that): decided again as at year end, by the main pass (which takes it over).
        reopening.push({ from: enrollment, continuation });
      } else {
        summary.earlyConfirmed++;
        done.push(enrollment._id);
        // Confirmed on an earlier year's decision (the new year has none yet): the new year's first decision still
        // decides it, as it does a continuation the year-end run makes so (eligibilityCarried).
        if (decision.eligibilityCarried && programs.get(enrollment.programId)?.requiresEligibility) carrying.push(continuation!._id);
      }
    }
    const lost = () => {
      if (lease.held) return false;
      summary.complete = false;
      return true;
    };
    if (lost()) return;
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
      this.events.committed();
      summary.expired++;
      summary.earlyUndone++;
      ending.push({ from, reasons, ineligibleBy: decision.ineligibleBy });
    }
    if (lost()) return;
    for (const { from, reasons, ineligibleBy } of ending) {
      if (await this.end(from, toFiscalYear, reasons, ineligibleBy)) done.push(from._id);
      else summary.conflicts++; // kept changing: the flag stays, the next run ends it
    }
    for (const { from, continuation } of reopening) {
      if (await this.reopen(from, continuation)) summary.earlyReopened++;
      else summary.conflicts++;
    }
    if (lost()) return;
    await this.carried(carrying, ctx);
    for (let i = 0; i < done.length; i += UPDATES_PER_COMMAND) {
      await this.enrollments.model.collection.updateMany(
        { _id: { $in: done.slice(i, i + UPDATES_PER_COMMAND) } } as never,
        { $unset: { 'rollover.early': '' }, $set: { updatedAt: at }, $inc: { version: 1 } } as never,
      );
    }
  }

  /**
   * Marks these continuations `eligibilityCarried` (a field of the rollover's, in neither the API nor the events: no new
   * version; by `_id` alone, as EnrollmentsRepository.confirmCarried clears it), then reads the new year's decision once
   * more: one recorded meanwhile looked for carried continuations before the mark (MarkIneligible.settleCarried).
   */
  private async carried(ids: string[], ctx: BatchContext): Promise<void> {
    if (!ids.length) return;
    const collection = this.enrollments.model.collection;
    for (let i = 0; i < ids.length; i += UPDATES_PER_COMMAND) {
      await collection.updateMany({ _id: { $in: ids.slice(i, i + UPDATES_PER_COMMAND) } } as never, { $set: { eligibilityCarried: true } });
    }
    const marked = [...(await findByIds<Enrollment>(collection as never, ids, { outbox: 0 })).values()].filter((c) => c.eligibilityCarried === true);
    const decisions = await ctx.eligibilityNow(marked);
    for (const c of marked) {
      const decision = decisions.get(c._id);
      if (decision) await this.markIneligible.settleCarried(c, decision);
    }
  }

  /**
   * The continuation of `from` (still its continuation: `renewedFrom`, which Enroll clears when the admin starts it again)
   * ends INELIGIBLE with `reasons`, in a guarded write with its event, which names the decision that ended it
   * (`ineligibleBy`), if one did. Whether there is nothing left to do (true) or it kept changing (false).
   */
  private async end(from: Enrollment, toFiscalYear: string, reasons: string[], ineligibleBy?: RenewalDecision['ineligibleBy']): Promise<boolean> {
    const id = this.nextId(from, toFiscalYear);
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const current = await this.enrollments.findById(id);
      if (!current || current.renewedFrom !== from._id || TERMINAL.includes(current.status)) return true;
      const changes = { status: 'INELIGIBLE' as const, reasons, missing: [] };
      const unset = COMPLETION_FIELDS.filter((field) => current[field] !== undefined);
      // Made from the enrollment as written: no longer `completed` (its `enrolledAt` cleared).
      const event = this.events.event('EnrollmentIneligible', changedEnrollment(current, changes, unset), {
        previousStatus: current.status,
        ...(ineligibleBy && { extra: { decision: decisionRef(ineligibleBy) } }),
      });
      if (await this.enrollments.update(current, changes, [event], unset)) {
        this.events.committed();
        return true;
      }
    }
    this.logger.warn(`continuation ${id} of ${from._id} kept changing while it was ended; left for the next run`);
    return false;
  }

  /**
   * `from` unmarked, for the main pass to decide as any completed enrollment at year end; its ended continuation no longer
   * `renewedFrom` it first (a continuation of it the main pass would take for its own, interrupted, and only mark), so
   * that pass takes it over as it takes over any next-year enrollment that ended INELIGIBLE.
   */
  private async reopen(from: Enrollment, continuation?: NextYearEnrollment): Promise<boolean> {
    if (continuation?.renewedFrom === from._id) {
      const { matchedCount } = await this.enrollments.model.collection.updateOne(
        { _id: continuation._id, version: continuation.version, status: 'INELIGIBLE' } as never,
        { $unset: { renewedFrom: '', renewedAs: '', renewedEarly: '' }, $set: { updatedAt: new Date() }, $inc: { version: 1 } } as never,
      );
      if (matchedCount === 0) return false; // changed meanwhile: the next run decides again
    }
    await this.enrollments.model.collection.updateOne(
      { _id: from._id } as never,
      { $unset: { rollover: '' }, $set: { updatedAt: new Date() }, $inc: { version: 1 } } as never,
    );
    return true;
  }

  private nextId(from: Enrollment, toFiscalYear: string): string {
    return enrollmentId({ programId: from.programId, locationId: from.locationId, fiscalYear: toFiscalYear });
  }
}
