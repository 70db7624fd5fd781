import { fiscalYearRange, MissingPayoutItem, nextFiscalYear } from '@lib/contracts';
import { OutboxEntry, pushOutbox, UPDATES_PER_COMMAND } from '@lib/messaging';
import { BackgroundWork, CONFIG, Problems } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { bulkWriteChunked, insertIdempotent, sleep } from '../../common/bulk';
import { Clock } from '../../common/clock';
import { deterministicId, enrollmentId } from '../../common/ids';
import type { EnrollmentConfig } from '../../config';
import { Enrollment, RolloverOutcome } from '../../enrollments/enrollment.schema';
import { EnrollmentEvents } from '../../enrollments/enrollment-events';
import { EnrollmentsRepository } from '../../enrollments/enrollments.repository';
import { Program } from '../../programs/program.schema';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ConsumerCatchUp } from '../consumer-catch-up';
import { NextYearEnrollment, RenewalContext } from '../renewal-context';
import { findByIds } from '../../views/views.repository';
import { decideUnfinished, RenewalDecision } from '../renewal-rules';
import { BEFORE_ENROLLED } from '../../enrollments/enrollment-rules';

export interface RolloverSummary {
  fromFiscalYear: string;
  /** The program the run was limited to (an operator's request); every program's otherwise. */
  programId?: string;
  toFiscalYear: string;
  /** Enrollments of the ending year looked at: ENROLLED ones, and unfinished ones. */
  examined: number;
  renewed: number;
  actionRequired: number;
  expired: number;
  /**
   * Still INVITED, ACTION_REQUIRED or VALIDATING when the year ended: EXPIRED (counted in `expired` too). Only once
   * the year is over: a run before its end (an operator's) continues the ENROLLED ones only.
   */
  unfinished: number;
  /** Already enrolled in the next year on their own: only marked. */
  superseded: number;
  /** Finished by this run after an interrupted one had created their next-year enrollment. */
  resumed: number;
  /** Changed by someone else during the run: left for the next run. */
  conflicts: number;
  batches: number;
  durationMs: number;
  /** Whether the consumer had processed every event published before the run (see ConsumerCatchUp). */
  caughtUp: boolean;
  /** False when the run stopped with enrollments left: at `limit`, or at shutdown (between two batches). */
  complete: boolean;
}

const PRE_SUBMIT = new Set(['INVITED', 'ACTION_REQUIRED']);

const NEXT_YEAR_FIELDS = { _id: 1, status: 1, version: 1, renewedFrom: 1, submittedAt: 1 } as const;

interface BatchPlan {
  now: Date;
  inserts: Array<{ doc: Enrollment & { outbox: OutboxEntry[] }; from: Enrollment; decision: RenewalDecision }>;
  markers: Record<RolloverOutcome, string[]>;
  expiries: Array<{ updateOne: { filter: object; update: object } }>;
  /** Expiries of enrollments never completed (counted apart). */
  unfinished: Array<{ updateOne: { filter: object; update: object } }>;
}

/**
 * The fiscal-year rollover of one ending year. Once the year is over, each enrollment of `fromFiscalYear` still before
 * ENROLLED (never completed) becomes EXPIRED, with EnrollmentExpired. Each ENROLLED enrollment of `fromFiscalYear`
 * not yet rolled over:
 *  - RENEWED: a new ENROLLED enrollment for the next year (same program, location and profiles), EnrollmentRenewed;
 *  - ACTION_REQUIRED: a new next-year enrollment waiting for the admin (what is missing), EnrollmentActionRequired;
 *  - EXPIRED: this enrollment becomes EXPIRED with the reasons, EnrollmentExpired.
 * Streamed in batches from one cursor: per batch, one query per view, one insertMany of the next-year
 * enrollments (each carrying its event: the insert is the exactly-once marker, a duplicate is a no-op), one
 * updateMany per outcome setting `rollover` on the old ones (so a rerun skips them), and guarded updates (with their
 * events) for the expired ones. Killed at any point, a rerun changes every enrollment once, with one event: the
 * next-year enrollment it finds tells it an earlier run got that far.
 */
@Injectable()
export class RollOverFiscalYear {
  private readonly logger = new Logger(RollOverFiscalYear.name);
  private readonly running = new Set<string>();

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

  async execute({ fromFiscalYear, limit, programId }: { fromFiscalYear: string; limit?: number; programId?: string }): Promise<RolloverSummary> {
    if (this.running.has(fromFiscalYear)) throw Problems.conflict(`A rollover of ${fromFiscalYear} is running already.`);
    this.running.add(fromFiscalYear);
    try {
      return await this.work.run(() => this.run(fromFiscalYear, limit, programId));
    } finally {
      this.running.delete(fromFiscalYear);
    }
  }

  private async run(fromFiscalYear: string, limit?: number, programId?: string): Promise<RolloverSummary> {
    const started = Date.now();
    const toFiscalYear = nextFiscalYear(fromFiscalYear);
    const programs = await this.programs.all();
    if (programId !== undefined && !programs.has(programId)) throw Problems.notFound(`Program ${programId}`);
    const summary: RolloverSummary = {
      fromFiscalYear,
      ...(programId !== undefined && { programId }),
      toFiscalYear,
      examined: 0,
      renewed: 0,
      actionRequired: 0,
      expired: 0,
      unfinished: 0,
      superseded: 0,
      resumed: 0,
      conflicts: 0,
      batches: 0,
      durationMs: 0,
      caughtUp: await this.catchUp.wait(),
      complete: true,
    };
    const yearOver = this.clock.now() >= fiscalYearRange(fromFiscalYear).end;
    const batchSize = this.config.ROLLOVER_BATCH_SIZE;
    const cursor = this.enrollments.model.collection.find(
      {
        fiscalYear: fromFiscalYear,
        ...(programId !== undefined && { programId }),
        status: yearOver ? { $in: ['ENROLLED', ...BEFORE_ENROLLED] } : 'ENROLLED',
        rollover: { $exists: false },
      } as never,
      { projection: { outbox: 0 }, batchSize },
    );
    // Batches are read and decided while earlier ones are written, with up to ROLLOVER_WRITES_IN_FLIGHT writes at
    // once: a batch's writes are a chain of round trips, and one chain at a time left the server waiting for the
    // service between commands and the service waiting for the server. Batches are independent (their own
    // enrollments, their own next-year ones), so their writes may overlap.
    const writing: Array<Promise<void>> = [];
    const flush = async (batch: Enrollment[]) => {
      const plan = await this.prepare(batch, programs, summary);
      while (writing.length >= this.config.ROLLOVER_WRITES_IN_FLIGHT) await writing.shift();
      const write = this.write(plan, programs, summary);
      write.catch(() => undefined); // awaited (and thrown) by a later flush or at the end
      writing.push(write);
    };
    try {
      let batch: Enrollment[] = [];
      let stopped = false;
      for await (const doc of cursor) {
        // Shutdown: stop before the next enrollment; what this run has not written, the next run does.
        if (this.work.stopRequested) {
          stopped = true;
          summary.complete = false;
          break;
        }
        if (limit !== undefined && summary.examined + batch.length >= limit) {
          summary.complete = false;
          break;
        }
        batch.push(doc as unknown as Enrollment);
        if (batch.length >= batchSize) {
          await flush(batch);
          batch = [];
          if (this.config.ROLLOVER_BATCH_PAUSE_MS) await sleep(this.config.ROLLOVER_BATCH_PAUSE_MS);
        }
      }
      if (batch.length && !stopped) await flush(batch);
      await Promise.all(writing);
    } finally {
      await Promise.allSettled(writing);
      await cursor.close().catch(() => undefined);
    }
    summary.durationMs = Date.now() - started;
    this.logger.log(`rollover ${fromFiscalYear} -> ${toFiscalYear}: ${JSON.stringify(summary)}`);
    return summary;
  }

  /**
   * Reads what the batch needs (a few queries per view) and decides each enrollment; no write yet. Next-year
   * enrollments are looked up only for the ones that expire (the others find theirs as a duplicate insert).
   */
  private async prepare(batch: Enrollment[], programs: Map<string, Program>, summary: RolloverSummary): Promise<BatchPlan> {
    const { fromFiscalYear, toFiscalYear } = summary;
    const ctx = await this.context.load(batch, programs, fromFiscalYear, toFiscalYear);
    const now = new Date();
    const plan: BatchPlan = { now, inserts: [], markers: { RENEWED: [], ACTION_REQUIRED: [], SUPERSEDED: [], EXPIRED: [] }, expiries: [], unfinished: [] };
    const expiring: Array<{ enrollment: Enrollment; decision: RenewalDecision }> = [];
    for (const enrollment of batch) {
      summary.examined++;
      if (enrollment.status !== 'ENROLLED') {
        plan.unfinished.push(this.expiry(enrollment, decideUnfinished(fromFiscalYear, enrollment.missing as MissingPayoutItem[]), toFiscalYear, now));
        continue;
      }
      const decision = ctx.decide(enrollment);
      if (decision.outcome === 'EXPIRED') {
        expiring.push({ enrollment, decision });
        continue;
      }
      const doc = this.nextYear(enrollment, programs.get(enrollment.programId)!, decision, toFiscalYear, 0, now);
      plan.inserts.push({ doc: { ...doc, outbox: [this.nextYearEvent(enrollment, doc, decision, summary)] }, from: enrollment, decision });
    }
    if (expiring.length) {
      // An interrupted run may have continued it before the facts changed: that stands.
      const next = await ctx.nextYear(expiring.map(({ enrollment }) => enrollment));
      for (const { enrollment, decision } of expiring) {
        const existing = next.get(ctx.nextId(enrollment));
        if (existing?.renewedFrom === enrollment._id) {
          plan.markers[existing.status === 'ENROLLED' ? 'RENEWED' : 'ACTION_REQUIRED'].push(enrollment._id);
          summary.resumed++;
        } else {
          plan.expiries.push(this.expiry(enrollment, decision, toFiscalYear, now));
        }
      }
    }
    return plan;
  }

  /**
   * 1. the next-year enrollments, each with its event; one already there is either this run's predecessor's
   *    (only the marker was missing), or one an invitation or an unfinished Enroll had started (it becomes the
   *    continuation, in a guarded write with the event), or one enrolled on its own (nothing to continue);
   * 2. the expired ones, status and event in one guarded write each;
   * 3. the markers on the old ones, once their next-year enrollments exist.
   */
  private async write(plan: BatchPlan, programs: Map<string, Program>, summary: RolloverSummary): Promise<void> {
    const { toFiscalYear } = summary;
    const { now, inserts, markers, expiries, unfinished } = plan;
    const collection = this.enrollments.model.collection;
    this.enrollments.noteOutbox(inserts.map((i) => i.doc._id));
    const { duplicates } = await insertIdempotent(collection as never, inserts.map((i) => i.doc));
    const duplicate = new Set(duplicates);
    inserts.forEach((insert, index) => {
      if (duplicate.has(index)) return;
      markers[insert.decision.outcome as RolloverOutcome].push(insert.from._id);
      if (insert.decision.outcome === 'RENEWED') summary.renewed++;
      else summary.actionRequired++;
    });
    if (duplicates.length) {
      const taken = duplicates.map((index) => inserts[index]);
      const existing = await findByIds<NextYearEnrollment>(collection as never, taken.map((t) => t.doc._id), NEXT_YEAR_FIELDS);
      for (const { doc, from, decision } of taken) {
        const next = existing.get(doc._id);
        if (next?.renewedFrom === from._id) {
          markers[next.status === 'ENROLLED' ? 'RENEWED' : 'ACTION_REQUIRED'].push(from._id);
          summary.resumed++;
        } else if (next && PRE_SUBMIT.has(next.status) && !next.submittedAt) {
          const continued = this.nextYear(from, programs.get(from.programId)!, decision, toFiscalYear, next.version, now);
          const { _id, createdAt: _createdAt, ...fields } = continued;
          const event = this.nextYearEvent(from, continued, decision, summary);
          this.enrollments.noteOutbox([_id]);
          const result = await collection.updateOne({ _id, version: next.version } as never, { $set: fields, $push: pushOutbox([event]) } as never);
          if (result.matchedCount === 0) {
            summary.conflicts++; // changed meanwhile: the next run decides again
            continue;
          }
          markers[decision.outcome as RolloverOutcome].push(from._id);
          if (decision.outcome === 'RENEWED') summary.renewed++;
          else summary.actionRequired++;
        } else if (next) {
          markers.SUPERSEDED.push(from._id);
          summary.superseded++;
        } else {
          summary.conflicts++;
        }
      }
    }
    for (const [writes, count] of [[expiries, 'expired'], [unfinished, 'unfinished']] as const) {
      if (!writes.length) continue;
      this.enrollments.noteOutbox(writes.map((e) => (e.updateOne.filter as { _id: string })._id));
      const outcome = await bulkWriteChunked(collection as never, writes as never, this.config.BULK_WRITE_CHUNK);
      summary.expired += outcome.modified;
      if (count === 'unfinished') summary.unfinished += outcome.modified;
      summary.conflicts += writes.length - outcome.matched;
    }
    // The same change for every enrollment of an outcome: one updateMany by `_id $in` per chunk (an index lookup per
    // id on every server), not one update statement per enrollment. Chunks of UPDATES_PER_COMMAND ids, not
    // BULK_WRITE_CHUNK: mongo-java-server checks each matched document against the whole $in list, so a command's
    // cost grows with the square of its ids (500 ids: 14,000 documents/s; 50: 32,000/s).
    for (const outcome of ['RENEWED', 'ACTION_REQUIRED', 'SUPERSEDED'] as const) {
      const ids = markers[outcome];
      for (let i = 0; i < ids.length; i += UPDATES_PER_COMMAND) {
        await collection.updateMany(
          { _id: { $in: ids.slice(i, i + UPDATES_PER_COMMAND) } } as never,
          { $set: { rollover: { toFiscalYear, outcome, at: now }, updatedAt: now }, $inc: { version: 1 } } as never,
        );
      }
    }
    summary.batches++;
    this.events.committed();
  }

  private nextYearEvent(from: Enrollment, doc: Enrollment, decision: RenewalDecision, summary: RolloverSummary): OutboxEntry {
    return this.events.event(decision.outcome === 'RENEWED' ? 'EnrollmentRenewed' : 'EnrollmentActionRequired', doc, {
      extra: decision.outcome === 'RENEWED' ? { fromFiscalYear: summary.fromFiscalYear } : {},
      eventId: deterministicId('rollover', from._id, summary.toFiscalYear),
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
      eventId: deterministicId('rollover', enrollment._id, toFiscalYear),
    });
    return {
      updateOne: {
        filter: { _id: enrollment._id, version: enrollment.version },
        update: { $set: { ...changes, version: next.version, updatedAt: now }, $push: pushOutbox([event]) },
      },
    };
  }

  /** The next-year enrollment: ENROLLED with the same profiles, or waiting for the admin with what is missing. */
  private nextYear(from: Enrollment, program: Program, decision: RenewalDecision, toFiscalYear: string, previousVersion: number, now: Date): Enrollment {
    const renewed = decision.outcome === 'RENEWED';
    return {
      _id: enrollmentId({ programId: from.programId, locationId: from.locationId, fiscalYear: toFiscalYear }),
      programId: from.programId,
      programName: program.name,
      partnerId: from.partnerId,
      locationId: from.locationId,
      fiscalYear: toFiscalYear,
      status: renewed ? 'ENROLLED' : 'ACTION_REQUIRED',
      reasons: decision.reasons,
      missing: decision.missing,
      ...(from.bankProfileId && { bankProfileId: from.bankProfileId }),
      ...(from.taxProfileId && { taxProfileId: from.taxProfileId }),
      bankChosen: from.bankChosen ?? false,
      evaluatedAt: now,
      ...(from.startedAt && { startedAt: from.startedAt }),
      ...(from.startedBy && { startedBy: from.startedBy }),
      ...(renewed && { submittedAt: now, submittedBy: 'rollover', enrolledAt: now, ...(from.validated && { validated: from.validated }) }),
      renewedFrom: from._id,
      version: previousVersion + 1,
      createdAt: now,
      updatedAt: now,
    };
  }
}
