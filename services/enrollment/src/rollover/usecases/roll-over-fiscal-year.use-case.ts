import { decisionRef, fiscalYearRange, ineligibleReasons, judgedAt, MissingPayoutItem, nextFiscalYear, payoutRulesFor } from '@lib/contracts';
import { findByIds, OutboxEntry, pushOutbox, UPDATES_PER_COMMAND } from '@lib/messaging';
import { BackgroundWork, Clock, CONFIG, Problems } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { bulkWriteChunked, insertIdempotent, scanInBatches } from '../../common/bulk';
import { deterministicId, enrollmentId } from '../../common/ids';
import type { EnrollmentConfig } from '../../config';
import { Enrollment, PENDING_SCAN, RolloverOutcome } from '../../enrollments/enrollment.schema';
import { EnrollmentEvents } from '../../enrollments/enrollment-events';
import { EnrollmentsRepository } from '../../enrollments/enrollments.repository';
import { DiscontinueProgramEnrollments } from '../../enrollments/usecases/discontinue-program-enrollments.use-case';
import { RenameProgramEnrollments } from '../../enrollments/usecases/rename-program-enrollments.use-case';
import { EnrollLocation } from '../../enrollments/usecases/enroll-location.use-case';
import { FollowValidation } from '../../enrollments/usecases/follow-validation.use-case';
import { MarkIneligible } from '../../enrollments/usecases/mark-ineligible.use-case';
import { WithdrawBankChoice } from '../../enrollments/usecases/withdraw-bank-choice.use-case';
import { Program } from '../../programs/program.schema';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ConsumerCatchUp } from '../../common/consumer-catch-up';
import { HeldLease, RolloverLease } from '../rollover-lease';
import { ReviewEarlyRenewals } from './review-early-renewals.use-case';
import { BatchContext, NEXT_YEAR_FIELDS, NextYearEnrollment, RenewalContext } from '../renewal-context';
import { completedFilter, decideUnfinished, endedUnfinished, RenewalDecision, takenOverByContinuation, wasCompleted } from '../renewal-rules';
import { bankNoLongerServes, BEFORE_ENROLLED, keptBankProfileId } from '../../enrollments/enrollment-rules';

export interface RolloverRequest {
  fromFiscalYear: string;
  /** Stop after this many enrollments (`complete: false`, `resumeAfter`). */
  limit?: number;
  /** Only enrollments after this `_id` (the `resumeAfter` of a run stopped at its limit). */
  after?: string;
  /** Only this program's enrollments. */
  programId?: string;
  /** Decide even when the consumer has not caught up (otherwise 503, nothing decided). */
  force?: boolean;
  /** Decide as at the year's end although it is not over: expire now what will not continue (an operator's choice). */
  endYearNow?: boolean;
}

export interface RolloverSummary {
  fromFiscalYear: string;
  /** The program the run was limited to (an operator's request); every program's otherwise. */
  programId?: string;
  toFiscalYear: string;
  /**
   * Enrollments of the ending year looked at: completed ones (ENROLLED, or ENROLLED once and back in validation
   * after a profile edit or rejection), and unfinished ones.
   */
  examined: number;
  renewed: number;
  /**
   * Continued into the next year submitted, following the validation of their profiles: VALIDATING (a revision in use
   * not approved yet) or ACTION_REQUIRED with the validator's reasons (rejected). ENROLLED once approved, with no Submit.
   * Counted here, not in actionRequired.
   */
  validating: number;
  /** Continued into the next year waiting for the admin: the payout information falls short of the program's rules. */
  actionRequired: number;
  expired: number;
  /**
   * Completed ones that will not continue (decided EXPIRED), met by a run before their year is over (an operator's
   * early run): still valid until the year ends (SPEC 1, Enrollment 6), so left as they are, unmarked, for a run once
   * the year is over to expire them (with the facts as they are then). Not counted in `expired`.
   */
  leftForYearEnd: number;
  /**
   * Run once the year is over, before the rest: continuations made by an operator's early run, decided again
   * (ReviewEarlyRenewals): `earlyConfirmed` still continue; `earlyUndone` no longer eligible or the agreement inactive,
   * EXPIRED (counted in `expired` too) and their continuations INELIGIBLE; `earlyReopened` still continuing but their
   * continuation ended INELIGIBLE since: unmarked, decided again by this run as at year end (counted there too).
   * Not within `limit`.
   */
  earlyReviewed: number;
  earlyConfirmed: number;
  earlyUndone: number;
  earlyReopened: number;
  /**
   * Never completed (still INVITED, ACTION_REQUIRED or VALIDATING, never ENROLLED) when the year ended: EXPIRED
   * (counted in `expired` too). Only once the year is over: a run before its end (an operator's) continues the
   * completed ones only.
   */
  unfinished: number;
  /**
   * Of a program discontinued (before or during the run): not continued nor expired, and not marked; the program's
   * discontinuation ends them (DISCONTINUED), as it ends every enrollment of the program not ended yet.
   */
  discontinued: number;
  /** Already enrolled in the next year on their own: only marked. */
  superseded: number;
  /** Finished by this run after an interrupted one had created their next-year enrollment. */
  resumed: number;
  /**
   * Of `resumed`, once the year is over: continuations an operator's early run made (renewedEarly) and stopped before it
   * marked their old enrollments. Marked `early`, and reviewed after the main pass as the review before it reviews the
   * others (`earlyReviewed`...): their first decision was made before the year was over, on eligibility as it was then.
   */
  earlyResumed: number;
  /** Changed by someone else during the run: left for the next run. */
  conflicts: number;
  batches: number;
  durationMs: number;
  /**
   * Whether the consumer had processed every event published before the run (see ConsumerCatchUp). A run that is not
   * caught up decides nothing (503) unless the operator forced it: false only in a forced run.
   */
  caughtUp: boolean;
  /** False when the run stopped with enrollments left: at `limit`, or at shutdown (between two batches). */
  complete: boolean;
  /** Stopped at `limit`: the last enrollment looked at (send it as `after` to go on from there). */
  resumeAfter?: string;
}


type Marked = Exclude<RolloverOutcome, 'EXPIRED'>;

interface Expiry {
  from: Enrollment;
  op: { updateOne: { filter: { _id: string; version: number }; update: object } };
}

interface BatchPlan {
  now: Date;
  inserts: Array<{ doc: Enrollment & { outbox: OutboxEntry[] }; from: Enrollment; decision: RenewalDecision }>;
  /** Expiring now, but an interrupted run had continued them already: only the mark is missing. */
  resumed: Array<{ from: Enrollment; outcome: Marked; next: NextYearEnrollment }>;
  expiries: Expiry[];
  /** Expiries of enrollments never completed (counted apart). */
  unfinished: Expiry[];
  /** The views the batch was decided on, read again after its inserts. */
  decidedOn: Pick<BatchContext, 'changedProfiles' | 'expiredProfiles' | 'eligibilityNow'>;
  /** Decided before the year is over (an operator's early run): marked `early`, for the year-end run to review. */
  early?: boolean;
}

/**
 * The fiscal-year rollover of one ending year. Once the year is over, each enrollment of `fromFiscalYear` still before
 * ENROLLED and never ENROLLED (never completed) becomes EXPIRED, with EnrollmentExpired. Each completed enrollment of
 * `fromFiscalYear` not yet rolled over (ENROLLED, or ENROLLED once and back in validation since: wasCompleted):
 *  - RENEWED: a new ENROLLED enrollment for the next year (same program, location and profiles), EnrollmentRenewed;
 *  - ACTION_REQUIRED: a new next-year enrollment waiting for the admin (what is missing), EnrollmentActionRequired;
 *  - EXPIRED: this enrollment becomes EXPIRED with the reasons, EnrollmentExpired; only once the year is over (it is
 *    valid until then): a run before (an operator's early run) leaves it as it is and unmarked (`leftForYearEnd`).
 * Streamed in batches from one cursor: per batch, one query per view, one insertMany of the next-year
 * enrollments (each carrying its event: the insert is the exactly-once marker, a duplicate is a no-op), one
 * updateMany per outcome setting `rollover` on the old ones (so a rerun skips them), and guarded updates (with their
 * events) for the expired ones. Killed at any point, a rerun changes every enrollment once, with one event: the
 * next-year enrollment it finds tells it an earlier run got that far. The enrollments of a discontinued program are
 * left to its discontinuation (the programs are read again for every batch: a program may be discontinued during a
 * run).
 */
@Injectable()
export class RollOverFiscalYear {
  private readonly logger = new Logger(RollOverFiscalYear.name);

  constructor(
    private readonly enrollments: EnrollmentsRepository,
    private readonly programs: ReadPrograms,
    private readonly context: RenewalContext,
    private readonly events: EnrollmentEvents,
    private readonly catchUp: ConsumerCatchUp,
    private readonly work: BackgroundWork,
    private readonly clock: Clock,
    private readonly discontinue: DiscontinueProgramEnrollments,
    private readonly rename: RenameProgramEnrollments,
    private readonly follow: FollowValidation,
    private readonly proposals: EnrollLocation,
    private readonly markIneligible: MarkIneligible,
    private readonly withdraw: WithdrawBankChoice,
    private readonly lease: RolloverLease,
    private readonly review: ReviewEarlyRenewals,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {}

  /**
   * 409 while a rollover of the year runs, in this instance or another (RolloverLease). 503 (Retry-After) when this
   * service's consumer has not caught up with the events the decisions read (ConsumerCatchUp): renewals and expiries
   * cannot be taken back, so nothing is decided on views that may be stale, unless `force` (an operator who knows).
   */
  async execute(request: RolloverRequest): Promise<RolloverSummary> {
    // An operator's run for one program is a job of its own on /metrics: it does not tell that the year's rollover ran.
    const job = request.programId === undefined ? 'fiscal-year-rollover' : 'fiscal-year-rollover-program';
    return this.work.run(job, () => this.lease.hold(request.fromFiscalYear, (lease) => this.run(lease, request)), {
      // A slice (`after`) tells nothing of the enrollments before it.
      complete: (summary) => summary.complete && !summary.conflicts && request.after === undefined,
    });
  }

  private async run(lease: HeldLease, { fromFiscalYear, limit, after, programId, force = false, endYearNow = false }: RolloverRequest): Promise<RolloverSummary> {
    const started = Date.now();
    const toFiscalYear = nextFiscalYear(fromFiscalYear);
    if (programId !== undefined && !(await this.programs.find(programId))) throw Problems.notFound(`Program ${programId}`);
    // An operator may end the year early on purpose (endYearNow): decided as at its end.
    const over = () => endYearNow || this.clock.now() >= fiscalYearRange(fromFiscalYear).end;
    // Slices (`after`) are an early run's: once the year is over every run decides what is left and marks it (a rerun
    // goes on by itself), and its review unmarks enrollments of any `_id` for the cursor to decide again. Refused
    // before the catch-up wait (a request that cannot run is told so without waiting or a 503 first), and again after
    // it: the year may have ended during the wait, and the run decides on the clock as it is then.
    const refuseSlice = () => {
      if (after !== undefined) {
        throw Problems.field('after', `applies to a run before ${fromFiscalYear} is over; once it is, run again without it (every run marks what it decides)`);
      }
    };
    if (over()) refuseSlice();
    const caughtUp = await this.catchUp.waitOrRefuse({
      force,
      what: `The rollover of ${fromFiscalYear} decided nothing`,
      why: 'renewals and expiries decided on stale views cannot be taken back',
    });
    const yearOver = over();
    if (yearOver) refuseSlice();
    const summary: RolloverSummary = {
      fromFiscalYear,
      ...(programId !== undefined && { programId }),
      toFiscalYear,
      examined: 0,
      renewed: 0,
      validating: 0,
      actionRequired: 0,
      expired: 0,
      leftForYearEnd: 0,
      earlyReviewed: 0,
      earlyConfirmed: 0,
      earlyUndone: 0,
      earlyReopened: 0,
      unfinished: 0,
      discontinued: 0,
      superseded: 0,
      resumed: 0,
      earlyResumed: 0,
      conflicts: 0,
      batches: 0,
      durationMs: 0,
      caughtUp,
      complete: true,
    };
    // What an early run continued, decided again now that the year is over; first, so that one it unmarks (reopened)
    // is decided by the cursor below.
    if (yearOver) await this.review.run(summary, lease);
    if (!summary.complete) return this.finish(summary, started);
    const batchSize = this.config.ROLLOVER_BATCH_SIZE;
    const scope = {
      fiscalYear: fromFiscalYear,
      ...(programId !== undefined && { programId }),
      // Not decided yet: no `rollover` record (every record has an outcome), as PENDING_SCAN keeps them.
      'rollover.outcome': null,
      ...(after !== undefined && { _id: { $gt: after } }),
    };
    // Those of a discontinued program are left to its discontinuation (it ends them), counted and not read: never marked
    // here, they would be read first by every run in `_id` order (`limit`), which would never get past them.
    const discontinuedPrograms = [...(await this.programs.all()).values()].filter((p) => p.state === 'DISCONTINUED');
    const discontinuedIds = discontinuedPrograms.map((p) => p._id);
    await this.endLeftLive(discontinuedPrograms.filter((p) => programId === undefined || p._id === programId), toFiscalYear);
    const pending = yearOver ? { ...scope, status: { $in: ['ENROLLED', ...BEFORE_ENROLLED] } } : completedFilter(scope);
    if (discontinuedIds.length) {
      summary.discontinued += await this.enrollments.model.collection.countDocuments({ $and: [pending, { programId: { $in: discontinuedIds } }] } as never);
    }
    // Once the year is over, every enrollment not ended (prepare tells completed ones from unfinished ones); before
    // (an operator's early run), the completed ones only.
    const scan = scanInBatches<Enrollment>(
      this.enrollments.model.collection,
      discontinuedIds.length ? { $and: [pending, { programId: { $nin: discontinuedIds } }] } : pending,
      {
        batchSize,
        hint: PENDING_SCAN,
        projection: { outbox: 0 },
        // In `_id` order when the run is a slice (`limit`, `after`): where it stopped is where the next one goes on
        // (an early run's filter is an $or, whose branches need not come back in that order).
        inIdOrder: limit !== undefined || after !== undefined,
        pauseMs: this.config.ROLLOVER_BATCH_PAUSE_MS,
        stopping: () => this.work.stopRequested,
      },
    );
    // Batches are read and decided while earlier ones are written, with up to ROLLOVER_WRITES_IN_FLIGHT writes at
    // once: a batch's writes are a chain of round trips, and one chain at a time left the server waiting for the
    // service between commands and the service waiting for the server. Batches are independent (their own
    // enrollments, their own next-year ones), so their writes may overlap.
    const writing: Array<Promise<void>> = [];
    // Old enrollments whose early continuation this run resumed and marked `early`: reviewed after the main pass.
    const resumedEarly: string[] = [];
    const flush = async (batch: Enrollment[]) => {
      const plan = await this.prepare(batch, summary, yearOver);
      while (writing.length >= this.config.ROLLOVER_WRITES_IN_FLIGHT) await writing.shift();
      const write = this.write(plan, summary, lease, resumedEarly);
      write.catch(() => undefined); // awaited (and thrown) by a later flush or at the end
      writing.push(write);
    };
    try {
      let batch: Enrollment[] = [];
      let stopped = false;
      let lastId: string | undefined;
      for await (const doc of scan) {
        // Shutdown, or the lease lost to another instance (this one stalled past it): stop before the next
        // enrollment; what this run has not written, the next run does.
        if (this.work.stopRequested || !lease.held) {
          stopped = true;
          summary.complete = false;
          break;
        }
        if (limit !== undefined && summary.examined + batch.length >= limit) {
          summary.complete = false;
          // Where an early run's next slice goes on (`after`); once the year is over a rerun goes on by itself.
          if (!yearOver) summary.resumeAfter = lastId;
          break;
        }
        batch.push(doc);
        lastId = doc._id;
        // The scan pauses after each batch it reads (ROLLOVER_BATCH_PAUSE_MS): the same size as these.
        if (batch.length >= batchSize) {
          await flush(batch);
          batch = [];
        }
      }
      if (batch.length && !stopped) await flush(batch);
      await Promise.all(writing);
    } finally {
      await Promise.allSettled(writing);
      await scan.return(undefined);
    }
    // The early run's continuations this pass found unmarked, marked `early` by it now: reviewed as the first review
    // reviewed the others (one whose continuation ended in between is unmarked for the next run to decide).
    if (resumedEarly.length && summary.complete) {
      const reopened = summary.earlyReopened;
      await this.review.run(summary, lease, resumedEarly);
      // Reopened now (its continuation ended in between), it is left for the next run: this one's cursor is past it.
      if (summary.earlyReopened > reopened) summary.complete = false;
    }
    return this.finish(summary, started);
  }

  private finish(summary: RolloverSummary, started: number): RolloverSummary {
    summary.durationMs = Date.now() - started;
    this.logger.log(`rollover ${summary.fromFiscalYear} -> ${summary.toFiscalYear}: ${JSON.stringify(summary)}`);
    return summary;
  }

  /**
   * Reads what the batch needs (the programs, a few queries per view) and decides each enrollment; no write yet.
   * Next-year enrollments are looked up only for the ones that expire (the others find theirs as a duplicate insert).
   * The programs are read for each batch, not once per run (a run of 100,000 takes about half a minute): a program
   * discontinued meanwhile has its enrollments ended by its discontinuation sweep, which may be over already, so
   * a later batch continuing them would leave next-year enrollments of a discontinued program that nothing ends.
   */
  private async prepare(batch: Enrollment[], summary: RolloverSummary, yearOver: boolean): Promise<BatchPlan> {
    const { fromFiscalYear, toFiscalYear } = summary;
    const programs = await this.programs.all();
    const ctx = await this.context.load(batch, programs, fromFiscalYear, toFiscalYear);
    const now = new Date();
    const plan: BatchPlan = { now, inserts: [], resumed: [], expiries: [], unfinished: [], decidedOn: ctx, early: !yearOver };
    const expiring: Array<{ enrollment: Enrollment; decision: RenewalDecision }> = [];
    for (const enrollment of batch) {
      summary.examined++;
      if (programs.get(enrollment.programId)?.state === 'DISCONTINUED') {
        // Its discontinuation ends it (DISCONTINUED), or has already (the cursor read it before): nothing to do.
        summary.discontinued++;
        continue;
      }
      if (!wasCompleted(enrollment)) {
        const decision = decideUnfinished(fromFiscalYear, enrollment.missing as MissingPayoutItem[]);
        plan.unfinished.push({ from: enrollment, op: this.expiry(enrollment, decision, toFiscalYear, now) });
        continue;
      }
      // An early run's continuations are decided again at year end on eligibility as it is then (ReviewEarlyRenewals),
      // not on the new year's first decision (eligibilityCarried).
      const decided = ctx.decide(enrollment);
      const decision = plan.early ? { ...decided, eligibilityCarried: undefined } : decided;
      if (decision.outcome === 'EXPIRED') {
        expiring.push({ enrollment, decision });
        continue;
      }
      const doc = this.nextYear(enrollment, programs.get(enrollment.programId)!, decision, toFiscalYear, 0, now, plan.early);
      plan.inserts.push({ doc: { ...doc, outbox: [this.nextYearEvent(enrollment, doc, decision, summary)] }, from: enrollment, decision });
    }
    if (expiring.length) {
      // An interrupted run may have continued it before the facts changed: that stands.
      const next = await ctx.nextYear(expiring.map(({ enrollment }) => enrollment));
      for (const { enrollment, decision } of expiring) {
        const existing = next.get(ctx.nextId(enrollment));
        if (existing?.renewedFrom === enrollment._id && !endedUnfinished(existing)) {
          plan.resumed.push({ from: enrollment, outcome: continuedAs(existing), next: existing });
        } else if (!yearOver) {
          // Valid until its year ends: an early run expires nothing (nor marks it); a run once the year is over decides.
          summary.leftForYearEnd++;
        } else {
          plan.expiries.push({ from: enrollment, op: this.expiry(enrollment, decision, toFiscalYear, now) });
        }
      }
    }
    return plan;
  }

  /**
   * 0. the programs again: one discontinued since the batch was decided (it may have waited for earlier batches'
   *    writes) gets nothing written either;
   * 1. the next-year enrollments, each with its event; one already there is either this run's predecessor's
   *    (only the marker was missing), or one an invitation or an unfinished Enroll had started, or one that ended
   *    INELIGIBLE (an ineligible decision or a revoked invitation since overruled: the decision here found the
   *    location eligible, as Enroll would restart it): it becomes the continuation, in a guarded write with the
   *    event; or one enrolled on its own (nothing to continue);
   * 2. the expired ones, status and event in one guarded write each;
   * 3. the markers on the old ones, once their next-year enrollments exist;
   * 4. the programs once more, for one discontinued or renamed while the inserts were under way (recheckPrograms).
   */
  private async write(plan: BatchPlan, summary: RolloverSummary, lease: HeldLease, resumedEarly: string[]): Promise<void> {
    const { toFiscalYear } = summary;
    // The lease lost (another instance runs the year now): write nothing more. What was decided and not written is
    // left as a kill leaves it, for the run that holds the year (or the next) to finish. Checked before each phase.
    const lost = () => {
      if (lease.held) return false;
      summary.complete = false;
      return true;
    };
    if (lost()) return;
    const { now } = plan;
    const programs = await this.programs.all();
    const live = <T extends { from: Enrollment }>(items: T[]): T[] =>
      items.filter(({ from }) => {
        if (programs.get(from.programId)?.state !== 'DISCONTINUED') return true;
        summary.discontinued++;
        return false;
      });
    const [inserts, resumed, expiries, unfinished] = [live(plan.inserts), live(plan.resumed), live(plan.expiries), live(plan.unfinished)];
    const markers: Record<Marked, string[]> = { RENEWED: [], VALIDATING: [], ACTION_REQUIRED: [], SUPERSEDED: [] };
    // Old enrollments whose continuation an early run made, resumed by a run once the year is over (their marks
    // `early` too: the review decides them again).
    const earlyMarks = new Set<string>();
    // The continuations this write created (inserted, or taken over), as written: their bank profiles are read again,
    // with the ones it resumes (read below). Marked and counted once that is done (see withdrawNotServing).
    const continuations: Enrollment[] = [];
    const resumedIds: string[] = [];
    const continued: Continued[] = [];
    // Continuations followed once before the marks (see followNow): those the rollover submitted, those whose profiles
    // changed since the batch read them, and every one a rerun resumes.
    const following: string[] = [];
    // Resumed ones are followed whatever they are: decided by the interrupted run on the views it read, a profile event
    // recorded after that read and before their insert never reached them, and this run's own read (changedProfiles)
    // already holds it.
    for (const { from, outcome, next } of resumed) {
      continued.push({ from: from._id, next: next._id, outcome, early: next.renewedEarly });
      resumedIds.push(next._id);
      summary.resumed++;
      following.push(next._id);
    }
    const collection = this.enrollments.model.collection;
    const { duplicates } = await this.enrollments.withOutbox(
      inserts.map((i) => i.doc._id),
      () => insertIdempotent(collection as never, inserts.map((i) => i.doc)),
    );
    const duplicate = new Set(duplicates);
    inserts.forEach((insert, index) => {
      if (duplicate.has(index)) return;
      const { outbox: _outbox, ...doc } = insert.doc;
      continuations.push(doc);
      continued.push({ from: insert.from._id, next: doc._id, outcome: outcomeOf(insert.decision), decision: insert.decision });
      if (insert.decision.follows) following.push(insert.doc._id);
    });
    if (duplicates.length) {
      const taken = duplicates.map((index) => inserts[index]);
      const existing = await findByIds<NextYearEnrollment>(collection as never, taken.map((t) => t.doc._id), NEXT_YEAR_FIELDS);
      for (const { doc, from, decision } of taken) {
        const next = existing.get(doc._id);
        if (next?.renewedFrom === from._id && !endedUnfinished(next)) {
          continued.push({ from: from._id, next: next._id, outcome: continuedAs(next), early: next.renewedEarly });
          resumedIds.push(next._id);
          summary.resumed++;
          following.push(next._id);
        } else if (next && takenOverByContinuation(next)) {
          // An unfinished Enroll of the next year (never ENROLLED: one that was, back to a proposal since, is the
          // admin's own enrollment, only marked below) is taken over by the continuation.
          const takenOver = this.nextYear(from, programs.get(from.programId)!, decision, toFiscalYear, next.version, now, plan.early);
          const { _id, createdAt: _createdAt, ...fields } = takenOver;
          // What the continuation does not set goes: an INELIGIBLE one may carry an old submission (`submittedAt`,
          // `validated`) or profiles the decision did not look at, which would make it look submitted or evaluated.
          const unset = Object.fromEntries(TAKEOVER_CLEARS.filter((field) => !(field in fields)).map((field) => [field, '']));
          const event = this.nextYearEvent(from, takenOver, decision, summary, next);
          const result = await this.enrollments.withOutbox([_id], () =>
            collection.updateOne(
              { _id, version: next.version } as never,
              { $set: fields, ...(Object.keys(unset).length && { $unset: unset }), $push: pushOutbox([event]) } as never,
            ),
          );
          if (result.matchedCount === 0) {
            summary.conflicts++; // changed meanwhile: the next run decides again
            continue;
          }
          continuations.push(takenOver);
          continued.push({ from: from._id, next: _id, outcome: outcomeOf(decision), decision });
          if (decision.follows) following.push(_id);
        } else if (next) {
          markers.SUPERSEDED.push(from._id);
          summary.superseded++;
        } else {
          summary.conflicts++;
        }
      }
    }
    // Resumed ones too: a rerun decides them on the view as it is now, but never rewrites them (a narrowing since the
    // interrupted run, applied to the view while its sweep could not see them yet, would otherwise stay unnoticed).
    for (let i = 0; i < resumedIds.length; i += RESUMED_READ_CHUNK) {
      const docs = await findByIds<Enrollment>(collection as never, resumedIds.slice(i, i + RESUMED_READ_CHUNK), { outbox: 0 });
      continuations.push(...docs.values());
    }
    const withdrawn = await this.withdrawNotServing(continuations);
    // Those written as decided (renewed ones too: ENROLLED also follows its profiles) whose profiles changed since the
    // batch read them: an edit (a new revision to validate) or a decision recorded in between reached the view and then
    // looked for the enrollments using the profile, before these existed. Followed once now, as the others.
    const profilesOf = (c: Enrollment) => [c.bankProfileId, c.taxProfileId].filter((id): id is string => !!id);
    const changed = await plan.decidedOn.changedProfiles(continuations.flatMap(profilesOf));
    // And those whose tax profile has expired by now within their year (a run after the year's start).
    const expired = plan.decidedOn.expiredProfiles(continuations.flatMap(profilesOf), judgedAt(toFiscalYear, this.clock.now()));
    const followed = new Set(following);
    for (const c of continuations) {
      if (!followed.has(c._id) && profilesOf(c).some((id) => changed.has(id) || expired.has(id))) following.push(c._id);
    }
    // Marked and counted as they are now: a continuation whose bank profile was just withdrawn is ACTION_REQUIRED
    // (the mark, and `actionRequired` for one this run wrote), not what it was decided as before.
    for (const { from, next, outcome, decision, early } of continued) {
      const markedAs = withdrawn.has(next) ? 'ACTION_REQUIRED' : outcome;
      markers[markedAs].push(from);
      if (early) earlyMarks.add(from);
      if (decision) count(summary, withdrawn.has(next) ? { ...decision, outcome: 'ACTION_REQUIRED', follows: false } : decision);
    }
    for (const [planned, counter] of [[expiries, 'expired'], [unfinished, 'unfinished']] as const) {
      if (!planned.length) continue;
      if (lost()) return;
      const writes = planned.map((e) => e.op);
      const outcome = await this.enrollments.withOutbox(
        writes.map((e) => e.updateOne.filter._id),
        () => bulkWriteChunked(collection as never, writes as never, this.config.BULK_WRITE_CHUNK),
      );
      summary.expired += outcome.modified;
      if (counter === 'unfinished') summary.unfinished += outcome.modified;
      summary.conflicts += writes.length - outcome.matched;
    }
    // Before the marks: killed before they land, a rerun resumes these and follows them again. The programs read again,
    // after the inserts: one made to require eligibility since the batch read it had its sweep (once, for that
    // revision) perhaps before they landed.
    await this.endNoLongerEligible(plan, continuations, await this.programs.all());
    await this.followNow(following, programs);
    if (lost()) return;
    // The same change for every enrollment of an outcome: one updateMany by `_id $in` per chunk (an index lookup per
    // id on every server), not one update statement per enrollment. Chunks of UPDATES_PER_COMMAND ids, not
    // BULK_WRITE_CHUNK: mongo-java-server checks each matched document against the whole $in list, so a command's
    // cost grows with the square of its ids (500 ids: 14,000 documents/s; 50: 32,000/s).
    const marks = (['RENEWED', 'VALIDATING', 'ACTION_REQUIRED', 'SUPERSEDED'] as const).flatMap((outcome) =>
      [false, true].map((early) => ({ outcome, early: plan.early || early, ids: markers[outcome].filter((id) => earlyMarks.has(id) === early) })),
    );
    for (const { outcome, early, ids } of marks) {
      for (let i = 0; i < ids.length; i += UPDATES_PER_COMMAND) {
        // By `_id` alone: mongo-java-server scans the whole collection for an update whose filter has more than `_id`
        // (a guard such as `rollover: { $exists: false }` made a run of 100,000 take minutes). No other run marks
        // the same enrollments meanwhile: a run holds its year's lease (RolloverLease), counts it lost a third of
        // its length before another instance may take it, and writes no further phase once it is lost.
        await collection.updateMany(
          { _id: { $in: ids.slice(i, i + UPDATES_PER_COMMAND) } } as never,
          { $set: { rollover: { toFiscalYear, outcome, at: now, ...(early && { early: true }) }, updatedAt: now }, $inc: { version: 1 } } as never,
        );
      }
    }
    summary.batches++;
    if (!plan.early) {
      summary.earlyResumed += earlyMarks.size;
      resumedEarly.push(...earlyMarks);
    }
    this.events.committed();
    await this.recheckPrograms(inserts.map((i) => i.doc));
  }

  /**
   * The next-year enrollments were decided on the profile view as read before their insert: a validation result or an
   * edit recorded since (its event consumed before they existed) would never reach them. Those the rollover submitted,
   * those whose profiles changed since the read, and those a rerun resumes (decided by an earlier run's read) are
   * followed once now, as Submit does after its write (FollowValidation: a guarded write, a no-op when nothing
   * changed), read again (a resumed one may have changed since). Their marks keep the outcome decided (as for any
   * continuation following validation later). Those waiting for the admin (not submitted: what is missing)
   * are evaluated again as a profile event would (EnrollLocation.reevaluate, Continue's evaluation): a tax profile
   * renewed between the read and the insert no longer shows as expired. Before the marks, so a run killed here leaves
   * them to a rerun, which resumes them and follows them again.
   */
  private async followNow(ids: string[], programs: Map<string, Program>): Promise<void> {
    if (!ids.length) return;
    const docs = [...(await findByIds<Enrollment>(this.enrollments.model.collection as never, ids, { outbox: 0 })).values()];
    // A few at a time: each is a read of its profiles and, when they changed, a guarded write.
    const next = async (): Promise<void> => {
      for (let enrollment = docs.pop(); enrollment; enrollment = docs.pop()) {
        const program = programs.get(enrollment.programId);
        if (!program) continue;
        if (enrollment.submittedAt) await this.follow.apply(enrollment, payoutRulesFor(program, enrollment.fiscalYear));
        else await this.proposals.reevaluate(enrollment);
      }
    };
    await Promise.all(Array.from({ length: FOLLOWS_AT_ONCE }, next));
  }

  /**
   * The continuations keeping a bank profile (renewed, following validation, or chosen) were decided on the profile
   * view as read before their insert, while the event narrowing a profile's locationIds writes the view and then reads
   * the enrollments keeping it: one recorded in between never reaches them (they did not exist yet). So the view of
   * their bank profiles is read again after the inserts (one query per batch; one of the two sides sees the other),
   * and a profile no longer serving the location is withdrawn as that event would (WithdrawBankChoice). The same for
   * the continuations a rerun resumes (written by an interrupted run, read again). Returns the ids withdrawn here.
   */
  private async withdrawNotServing(continuations: Enrollment[]): Promise<Set<string>> {
    const withdrawn = new Set<string>();
    const keeping = continuations.filter((e) => keptBankProfileId(e) !== undefined);
    if (!keeping.length) return withdrawn;
    const banks = await this.context.bankProfiles(keeping);
    for (const doc of keeping) {
      const bank = banks.get(doc.bankProfileId!);
      if (bank?.partnerId !== doc.partnerId || !bankNoLongerServes(doc, bank)) continue;
      let current: Enrollment | null = doc;
      for (let attempt = 1; current && attempt <= WITHDRAW_ATTEMPTS; attempt++) {
        // Its mark (and a rerun's) says what it is now: ACTION_REQUIRED.
        const written = await this.withdraw.apply(current, bank, { renewedAs: 'ACTION_REQUIRED' });
        if (written) {
          if (written !== current) {
            withdrawn.add(doc._id);
            this.logger.warn(`bank profile ${bank.profileId} stopped serving location ${doc.locationId} during the rollover: continuation ${doc._id} withdrawn`);
          }
          break;
        }
        current = await this.enrollments.findById(current._id); // changed meanwhile: decide again on what it is now
      }
    }
    return withdrawn;
  }

  /**
   * The continuations not ENROLLED, and those renewed on carried eligibility, were decided on the eligibility view read
   * before their insert: an ineligible decision recorded in between looked for the next-year enrollment before it
   * existed, and never reached it. Read once more: one whose location is no longer eligible now (a carried one: by the
   * new year's own decision) ends INELIGIBLE, as the decision would have ended it (MarkIneligible; a carried one no
   * longer completed, naming the decision); a carried one its year's eligible decision confirmed meanwhile loses the flag.
   */
  private async endNoLongerEligible(plan: BatchPlan, continuations: Enrollment[], programs: Map<string, Program>): Promise<void> {
    const open = continuations.filter(
      (c) =>
        ((!c.enrolledAt && BEFORE_ENROLLED.includes(c.status)) || c.eligibilityCarried === true) &&
        programs.get(c.programId)?.requiresEligibility &&
        programs.get(c.programId)?.state !== 'DISCONTINUED', // left to recheckPrograms: DISCONTINUED, as its sweep ends them
    );
    if (!open.length) return;
    const decisions = await plan.decidedOn.eligibilityNow(open);
    for (const c of open) {
      const decision = decisions.get(c._id);
      if (!decision) continue;
      if (c.eligibilityCarried) {
        await this.markIneligible.settleCarried(c, decision);
        continue;
      }
      if (decision.eligible) continue;
      const reasons = ineligibleReasons(decision.reasons, c.fiscalYear);
      await this.markIneligible.end(c, c.partnerId, reasons, (current) => BEFORE_ENROLLED.includes(current.status) && !current.enrolledAt, undefined, undefined, decisionRef(decision));
    }
  }

  /**
   * A program discontinued or renamed between the read the batch was decided on and the inserts landing: its
   * discontinuation sweep, or its enrollments' renaming (once per ProgramUpdated), may have run before they landed, and
   * never looks again. Read the programs once more, after the inserts: if that was over before they landed, it started
   * after the program's write, so this read sees the program as it is now; then sweep again here (guarded writes: the
   * enrollments already ended are not touched), or rename (only when an insert has another name than the program's).
   */
  private async recheckPrograms(inserted: Array<Pick<Enrollment, 'programId' | 'programName'>>): Promise<void> {
    if (!inserted.length) return;
    const programs = await this.programs.all();
    const names = new Map<string, Set<string | undefined>>();
    for (const { programId, programName } of inserted) names.set(programId, (names.get(programId) ?? new Set()).add(programName));
    for (const [programId, written] of names) {
      const program = programs.get(programId);
      if (!program) continue;
      if (program.state === 'DISCONTINUED') {
        // A discontinued program changes no more: its last change (updatedAt) is the discontinuation (discontinuedAt).
        const ended = await this.discontinue.execute(program._id, program.name, undefined, program.updatedAt);
        this.logger.warn(`program ${programId} was discontinued during the rollover: ${ended} enrollment(s) it had just continued or marked ended`);
      } else if ([...written].some((name) => name !== program.name)) {
        await this.rename.execute(programId);
      }
    }
  }

  /**
   * A batch that inserted continuations while their program was being discontinued, and was killed (or lost its lease,
   * or failed in a follow-up) before it read the programs again (recheckPrograms), left them live: the program's sweep
   * had run before they landed, once, and their old enrollments, ended by it, are never read again. A run ends them
   * first (the sweep again: guarded writes, each with its event), found by one indexed read per discontinued program.
   */
  private async endLeftLive(discontinued: Program[], toFiscalYear: string): Promise<void> {
    for (const program of discontinued) {
      const left = await this.enrollments.model.collection.findOne(
        { programId: program._id, status: { $in: ['ENROLLED', ...BEFORE_ENROLLED] }, fiscalYear: toFiscalYear } as never,
        { projection: { _id: 1 } },
      );
      if (!left) continue;
      const ended = await this.discontinue.execute(program._id, program.name, undefined, program.updatedAt);
      this.logger.warn(`program ${program._id} is discontinued, and ${ended} of its enrollments were still live (continued by a run interrupted as it was discontinued): ended`);
    }
  }

  /**
   * The continuation's event, with the year it continues (fromFiscalYear): EnrollmentRenewed; EnrollmentValidating (a
   * revision pending); EnrollmentRejected (following, a revision rejected: correcting the profile is enough);
   * EnrollmentActionRequired (information missing: Continue and Submit). `takenOver`: the next-year enrollment the
   * continuation takes over, as it was (its status is the event's previous one).
   */
  private nextYearEvent(from: Enrollment, doc: Enrollment, decision: RenewalDecision, summary: RolloverSummary, takenOver?: Pick<Enrollment, 'status'>): OutboxEntry {
    const type =
      decision.outcome === 'RENEWED'
        ? 'EnrollmentRenewed'
        : decision.outcome === 'VALIDATING'
          ? 'EnrollmentValidating'
          : decision.follows
            ? 'EnrollmentRejected'
            : 'EnrollmentActionRequired';
    return this.events.event(type, doc, {
      ...(takenOver && { previousStatus: takenOver.status }),
      extra: { fromFiscalYear: summary.fromFiscalYear },
      // A takeover's id has the version it writes: the next-year enrollment it takes over may be an earlier continuation
      // of `from` (ended INELIGIBLE, its mark removed by the year-end review), whose event had the insert's id, and
      // consumers skip an id they have seen.
      eventId: takenOver ? deterministicId('rollover-takeover', from._id, summary.toFiscalYear, String(doc.version)) : deterministicId('rollover', from._id, summary.toFiscalYear),
    });
  }

  private expiry(enrollment: Enrollment, decision: RenewalDecision, toFiscalYear: string, now: Date) {
    const changes = {
      status: 'EXPIRED' as const,
      reasons: decision.reasons,
      missing: decision.missing,
      rollover: { toFiscalYear, outcome: 'EXPIRED' as const, at: now },
    };
    const next: Enrollment = { ...enrollment, ...changes, version: enrollment.version + 1, updatedAt: now };
    const event = this.events.event('EnrollmentExpired', next, {
      previousStatus: enrollment.status,
      // Not the continuation's id (deterministicId('rollover', …)): one continued early, its continuation ended since and
      // its mark removed by the year-end review, may expire now.
      eventId: deterministicId('rollover-expiry', enrollment._id, toFiscalYear),
    });
    return {
      updateOne: {
        filter: { _id: enrollment._id, version: enrollment.version },
        update: { $set: { ...changes, version: next.version, updatedAt: now }, $push: pushOutbox([event]) },
      },
    };
  }

  /**
   * The next-year enrollment: ENROLLED with the same profiles; submitted by the rollover and following validation
   * (VALIDATING, or ACTION_REQUIRED with the validator's reasons); or waiting for the admin with what is missing.
   */
  private nextYear(from: Enrollment, program: Program, decision: RenewalDecision, toFiscalYear: string, previousVersion: number, now: Date, early = false): Enrollment {
    const renewed = decision.outcome === 'RENEWED';
    const submitted = renewed || decision.follows === true;
    return {
      _id: enrollmentId({ programId: from.programId, locationId: from.locationId, fiscalYear: toFiscalYear }),
      programId: from.programId,
      programName: program.name,
      partnerId: from.partnerId,
      locationId: from.locationId,
      fiscalYear: toFiscalYear,
      status: renewed ? 'ENROLLED' : decision.outcome === 'VALIDATING' ? 'VALIDATING' : 'ACTION_REQUIRED',
      reasons: decision.reasons,
      missing: decision.missing,
      ...(from.bankProfileId && { bankProfileId: from.bankProfileId }),
      ...((decision.taxProfileId ?? from.taxProfileId) && { taxProfileId: decision.taxProfileId ?? from.taxProfileId }),
      // A bank profile no longer serving the location is not kept as a choice: Continue proposes the default, and
      // Submit waits for it (`bankWithdrawn`).
      bankChosen: decision.bankWithdrawn ? false : (from.bankChosen ?? false),
      ...(decision.bankWithdrawn && { bankWithdrawn: true }),
      evaluatedAt: now,
      ...(from.startedAt && { startedAt: from.startedAt }),
      ...(from.startedBy && { startedBy: from.startedBy }),
      // Renewed: validated with the revisions the decision found APPROVED, not the old enrollment's `validated` (one
      // back in validation was validated with an older revision).
      ...(submitted && { submittedAt: now, submittedBy: 'rollover' }),
      ...(renewed && { enrolledAt: now, ...(decision.validated && { validated: decision.validated }) }),
      renewedFrom: from._id,
      renewedAs: decision.outcome as Marked,
      ...(decision.eligibilityCarried && { eligibilityCarried: true }),
      ...(early && { renewedEarly: true }),
      version: previousVersion + 1,
      createdAt: now,
      updatedAt: now,
    };
  }
}

/** The mark on the old enrollment for what its continuation is. */
function outcomeOf(decision: RenewalDecision): Marked {
  return decision.outcome as Marked;
}

/**
 * An existing continuation (renewedFrom = the old one), read back by a rerun: what it was continued as (`renewedAs`,
 * written with it). Continuations written before that field existed: told by their status.
 */
function continuedAs(next: NextYearEnrollment): Marked {
  // Its bank profile withdrawn since (the profile's event, before the interrupted run marked it): what it is now.
  if (next.bankWithdrawn) return 'ACTION_REQUIRED';
  if (next.renewedAs && next.renewedAs !== 'EXPIRED') return next.renewedAs;
  return next.status === 'ENROLLED' ? 'RENEWED' : 'ACTION_REQUIRED';
}

/** Guarded withdrawals of one continuation before leaving it to the profile's next event (withdrawNotServing). */
const WITHDRAW_ATTEMPTS = 8;

/** Continuations followed at once right after a batch's inserts (followNow). */
const FOLLOWS_AT_ONCE = 8;

/** The fields a continuation taking over an existing next-year enrollment clears when it does not set them. */
const TAKEOVER_CLEARS = ['submittedAt', 'submittedBy', 'validated', 'enrolledAt', 'bankProfileId', 'taxProfileId', 'bankWithdrawn', 'eligibilityCarried', 'renewedEarly'] as const;

/** Resumed continuations read at once (by `_id $in`) to re-check their bank profiles (withdrawNotServing). */
const RESUMED_READ_CHUNK = 50;

/** A continuation this write created, took over, or resumed: marked (and, unless resumed, counted) after the re-check. */
interface Continued {
  from: string;
  next: string;
  outcome: Marked;
  /** This write's decision (inserted or taken over); absent for a resumed one (counted in `resumed`). */
  decision?: RenewalDecision;
  /** An early run's continuation (renewedEarly) a run once the year is over resumes: marked `early`, for the review. */
  early?: boolean;
}

function count(summary: RolloverSummary, decision: RenewalDecision): void {
  if (decision.outcome === 'RENEWED') summary.renewed++;
  else if (decision.follows) summary.validating++;
  else summary.actionRequired++;
}
