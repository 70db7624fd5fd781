import { fiscalYearOver, fiscalYearRange, MissingPayoutItem, nextFiscalYear } from '@lib/contracts';
import { pushOutbox } from '@lib/messaging';
import { BackgroundWork, CONFIG, Clock } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { bulkWriteChunked } from '../../common/bulk';
import { deterministicId } from '../../common/ids';
import type { EnrollmentConfig } from '../../config';
import { Enrollment, YEAR_SCAN } from '../../enrollments/enrollment.schema';
import { EnrollmentEvents } from '../../enrollments/enrollment-events';
import { EnrollmentsRepository } from '../../enrollments/enrollments.repository';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ConsumerCatchUp } from '../../common/consumer-catch-up';
import { RenewalContext } from '../renewal-context';
import { continuesIt } from './review-early-renewals.use-case';
import { BEFORE_ENROLLED } from '../../enrollments/enrollment-rules';
import { remindersNotDue, remindersYearEnded, remindersYearNotStarted } from '../../enrollments/fiscal-year-ended';
import { AGREEMENT_INACTIVE_REASON, completedFilter, RenewalDecision, takenOverByContinuation, unfinishedReminder, wasCompleted } from '../renewal-rules';

export interface ReminderSummary {
  fiscalYear: string;
  fiscalYearEndsAt: string;
  examined: number;
  reminded: number;
  /** At risk as they were when reminded (or reminded REMINDERS_PER_YEAR times): no reminder again. */
  remindedBefore: number;
  /** Would continue as things are: no reminder. */
  onTrack: number;
  conflicts: number;
  durationMs: number;
  /** Whether every event published before the run had been consumed (false only with `force`). */
  caughtUp: boolean;
  /** False when shutdown stopped it between two batches (a rerun continues). */
  complete: boolean;
}

/** The most reminders one enrollment gets in a year (each for a new reason it will not continue). */
export const REMINDERS_PER_YEAR = 4;

/**
 * The mark a reminder leaves in `renewalReminders` (and the part of its event id) for what it told: that the
 * enrollment is not completed, once a year; that it will not continue, once per outcome and causes, and for one that
 * continues as Action required its missing items too, as codes (a reminder answered, by a completion or a fix, and a
 * new cause after: the admins are told again; not the wording, which a rename or a release may change). One that will
 * expire (its eligibility, its agreement) is not told again as its payout items change: completing them cannot save it.
 * Every reminder also leaves the year alone, the mark of releases before these (which then remind none again); a year
 * alone without a mark of its own is such a release's reminder.
 */
export function reminderMark(fiscalYear: string, kind: 'WILL_NOT_CONTINUE' | 'NOT_COMPLETED', decision: Pick<RenewalDecision, 'outcome' | 'causes' | 'missing'>): string {
  return reminderMarkOf(fiscalYear, kind, decision, decision.outcome !== 'EXPIRED');
}

/** The marks that say this was told already: reminderMark, and for one that will expire the mark of releases that
 * counted its missing items too (reminded of the same, by such a release). */
function toldAlready(fiscalYear: string, kind: 'WILL_NOT_CONTINUE' | 'NOT_COMPLETED', decision: Pick<RenewalDecision, 'outcome' | 'causes' | 'missing'>): string[] {
  return [reminderMark(fiscalYear, kind, decision), reminderMarkOf(fiscalYear, kind, decision, true)];
}

function reminderMarkOf(fiscalYear: string, kind: 'WILL_NOT_CONTINUE' | 'NOT_COMPLETED', decision: Pick<RenewalDecision, 'outcome' | 'causes' | 'missing'>, withMissing: boolean): string {
  if (kind === 'NOT_COMPLETED') return `${fiscalYear}:${kind}`;
  const told = JSON.stringify([decision.outcome, [...(decision.causes ?? [])].sort(), withMissing ? [...decision.missing].sort() : []]);
  return `${fiscalYear}:${kind}:${createHash('sha256').update(told).digest('hex').slice(0, 16)}`;
}

/** Reminded by a release that marked only the year: as before, reminded once that year. */
const remindedByEarlierRelease = (marks: string[], fiscalYear: string) => marks.includes(fiscalYear) && !marks.some((m) => m.startsWith(`${fiscalYear}:`));

/**
 * Before fiscal-year end, one EnrollmentRenewalAtRisk with the reasons and what is missing for each enrollment of the
 * year that would not continue as things are now:
 *  - a completed one (ENROLLED, or ENROLLED once and sent back since: wasCompleted) that the rollover would expire or
 *    ask for action (the same decision as the rollover); one an operator's early run continued already, when the run at
 *    year end would undo that (no longer eligible, agreement inactive: ReviewEarlyRenewals);
 *  - one started but never completed (Enroll was called: ACTION_REQUIRED, INVITED with the proposal, VALIDATING): it
 *    expires with its year unless it is completed before (unfinishedReminder). One only invited (never started by
 *    Enroll) gets none: the invitation and its notice are the reminder.
 * Once per enrollment, year and what it tells (reminderMark, at most REMINDERS_PER_YEAR): `renewalReminders` gets the
 * mark in the same guarded write as the event (its id derived from the mark); an enrollment reminded of what is still
 * the case is not reminded again (`remindedBefore`).
 * Decided on the views only once this service has consumed what was published before the run (ConsumerCatchUp), as
 * the rollover is: a reminder sent on a stale view (an agreement reactivated, an eligibility granted, a profile
 * approved, not consumed yet) tells an admin of a problem that is gone, and is not taken back. Not caught up: 503,
 * nothing sent, unless `force`; the scheduled run retries.
 */
@Injectable()
export class SendRenewalReminders {
  private readonly logger = new Logger(SendRenewalReminders.name);

  constructor(
    private readonly enrollments: EnrollmentsRepository,
    private readonly programs: ReadPrograms,
    private readonly context: RenewalContext,
    private readonly events: EnrollmentEvents,
    private readonly catchUp: ConsumerCatchUp,
    private readonly work: BackgroundWork,
    private readonly clock: Clock,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {}

  execute({ fiscalYear, force = false }: { fiscalYear: string; force?: boolean }): Promise<ReminderSummary> {
    return this.work.run('renewal-reminders', () => this.run(fiscalYear, force), { complete: (summary) => summary.complete && !summary.conflicts });
  }

  private async run(fiscalYear: string, force: boolean): Promise<ReminderSummary> {
    const started = Date.now();
    // A reminder says the enrollment "expires when the year ends unless...": once it has ended, that is no longer true
    // (the rollover decides). 409 `fiscal-year-ended`, nothing sent: an operator naming a past year, or a scheduled run
    // retried past midnight on June 30.
    if (fiscalYearOver(fiscalYear, this.clock.now())) throw remindersYearEnded(fiscalYear);
    // Nor one that has not begun: its enrollments (an early run's continuations) would be reminded now, once for the
    // year, and not when it ends.
    const starts = fiscalYearRange(fiscalYear).start;
    if (this.clock.now() < starts) throw remindersYearNotStarted(fiscalYear, starts);
    // Nor before its reminders' days (an operator's run months early): the same, for the reminder due then.
    const opens = new Date(fiscalYearRange(fiscalYear).end.getTime() - this.config.RENEWAL_REMINDER_DAYS * 86_400_000);
    if (this.clock.now() < opens) throw remindersNotDue(fiscalYear, opens, this.clock.now());
    const toFiscalYear = nextFiscalYear(fiscalYear);
    const endsAt = fiscalYearRange(fiscalYear).end.toISOString();
    const caughtUp = await this.catchUp.waitOrRefuse({
      force,
      what: `The renewal reminders of ${fiscalYear} were not sent`,
      why: 'a reminder sent on stale views cannot be taken back',
    });
    const summary: ReminderSummary = { fiscalYear, fiscalYearEndsAt: endsAt, examined: 0, reminded: 0, remindedBefore: 0, onTrack: 0, conflicts: 0, durationMs: 0, caughtUp, complete: true };
    const programs = await this.programs.all();
    const batchSize = this.config.ROLLOVER_BATCH_SIZE;
    const cursor = this.enrollments.model.collection.find(
      {
        fiscalYear,
        status: { $in: ['ENROLLED', ...BEFORE_ENROLLED] },
        $and: [
          // Continued by an operator's early run too: the run at year end decides those again (ReviewEarlyRenewals).
          { $or: [{ rollover: { $exists: false } }, { 'rollover.early': true }] },
          // Started by Enroll, or completed once (wasCompleted): one only invited is not read (the invitation reminds).
          { $or: [{ evaluatedAt: { $ne: null } }, ...(completedFilter({}).$or as object[])] },
        ],
      } as never,
      { projection: { outbox: 0 }, batchSize, hint: YEAR_SCAN },
    );
    const flush = async (batch: Enrollment[]) => {
      const ctx = await this.context.load(batch, programs, fiscalYear, toFiscalYear);
      // Continued early: their continuations, live or ended since (see below). Completed ones the rollover would ask for
      // action on: the next year's enrollment the admin may have made on their own (it supersedes them, below).
      const decisions = new Map(batch.filter((e) => wasCompleted(e)).map((e) => [e._id, ctx.decide(e)] as const));
      const looked = batch.filter((e) => e.rollover || decisions.get(e._id)?.outcome === 'ACTION_REQUIRED');
      const continuations = looked.length ? await ctx.nextYear(looked) : new Map();
      const now = new Date();
      const operations: Array<{ updateOne: { filter: { _id: string; version: number }; update: Record<string, unknown> } }> = [];
      for (const enrollment of batch) {
        const completed = wasCompleted(enrollment);
        summary.examined++;
        // Not completed while the partner's agreement is not active: Submit refuses it, and the rollover would expire it
        // completed or not. Told that it will not continue and why, not asked to complete it.
        const agreementInactive = !completed && !ctx.agreementActive(enrollment.partnerId);
        const decision: RenewalDecision = completed
          ? decisions.get(enrollment._id)!
          : agreementInactive
            ? { outcome: 'EXPIRED', reasons: [AGREEMENT_INACTIVE_REASON], missing: [], causes: ['AGREEMENT_INACTIVE'] }
            : unfinishedReminder(fiscalYear, enrollment, enrollment.missing as MissingPayoutItem[]);
        // Continued with no action either way: renewed, or in validation of a profile revision (ENROLLED once approved).
        // Continued early, its continuation live: only losing eligibility or the agreement undoes it at year end (what
        // its payout information lacks is the continuation's to tell). One whose continuation ended since is decided
        // again at year end as any (ReviewEarlyRenewals), so reminded as any.
        const nextYear = continuations.get(ctx.nextId(enrollment));
        const live = !!enrollment.rollover && continuesIt(enrollment, nextYear);
        // The admin enrolled the next year on their own (submitted, or ENROLLED once): the rollover only marks this one
        // SUPERSEDED (an early run has already; or, continued early, its continuation started again by the admin since,
        // the year-end review reopens it and the run marks it so), nothing of it is at risk (an EXPIRED decision still
        // expires it: reminded).
        const decidedAgain = !enrollment.rollover || enrollment.rollover.outcome === 'SUPERSEDED' || (enrollment.rollover.early === true && !live);
        const superseded = decidedAgain && decision.outcome === 'ACTION_REQUIRED' && !!nextYear && nextYear.renewedFrom !== enrollment._id && !takenOverByContinuation(nextYear);
        if (decision.outcome === 'RENEWED' || decision.outcome === 'VALIDATING' || (live && decision.outcome !== 'EXPIRED') || superseded) {
          summary.onTrack++;
          continue;
        }
        const kind = completed || agreementInactive ? 'WILL_NOT_CONTINUE' : 'NOT_COMPLETED';
        const mark = reminderMark(fiscalYear, kind, decision);
        const marks = enrollment.renewalReminders ?? [];
        if (toldAlready(fiscalYear, kind, decision).some((told) => marks.includes(told)) || remindedByEarlierRelease(marks, fiscalYear) || marks.filter((m) => m.startsWith(`${fiscalYear}:`)).length >= REMINDERS_PER_YEAR) {
          summary.remindedBefore++;
          continue;
        }
        const next: Enrollment = { ...enrollment, version: enrollment.version + 1 };
        const event = this.events.event('EnrollmentRenewalAtRisk', next, {
          extra: {
            reasons: decision.reasons,
            missing: decision.missing,
            fiscalYearEndsAt: endsAt,
            kind,
            outcome: decision.outcome === 'ACTION_REQUIRED' ? 'ACTION_REQUIRED' : 'EXPIRED',
          },
          eventId: deterministicId('renewal-at-risk', enrollment._id, mark),
        });
        operations.push({
          updateOne: {
            filter: { _id: enrollment._id, version: enrollment.version },
            update: { $set: { version: next.version, updatedAt: now }, $addToSet: { renewalReminders: { $each: [fiscalYear, mark] } }, $push: pushOutbox([event]) },
          },
        });
      }
      if (operations.length) {
        const outcome = await this.enrollments.withOutbox(
          operations.map((o) => o.updateOne.filter._id),
          () => bulkWriteChunked(this.enrollments.model.collection as never, operations as never, this.config.BULK_WRITE_CHUNK),
        );
        summary.reminded += outcome.modified;
        summary.conflicts += operations.length - outcome.matched;
        this.events.committed();
      }
    };
    try {
      let batch: Enrollment[] = [];
      for await (const doc of cursor) {
        // Shutdown: stop before the next enrollment; the next run reminds the rest.
        if (this.work.stopRequested) {
          summary.complete = false;
          break;
        }
        batch.push(doc as unknown as Enrollment);
        if (batch.length >= batchSize) {
          if (this.yearEnded(fiscalYear)) break;
          await flush(batch);
          batch = [];
        }
      }
      if (batch.length && summary.complete && !this.yearEnded(fiscalYear)) await flush(batch);
    } finally {
      await cursor.close().catch(() => undefined);
    }
    summary.durationMs = Date.now() - started;
    this.logger.log(`renewal reminders ${fiscalYear}: ${JSON.stringify(summary)}`);
    return summary;
  }

  /** The year ended while the run went on (it began on June 30): the rest get no reminder, and nothing is left to do. */
  private yearEnded(fiscalYear: string): boolean {
    const over = fiscalYearOver(fiscalYear, this.clock.now());
    if (over) this.logger.warn(`renewal reminders ${fiscalYear}: the year ended while they were sent; the rest are not`);
    return over;
  }
}
