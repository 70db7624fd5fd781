import { nextFiscalYear } from '@lib/contracts';
import { OutboxEntry, pushOutbox } from '@lib/messaging';
import { CONFIG, Problems } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { bulkWriteChunked, insertIdempotent, sleep } from '../../common/bulk';
import { deterministicId, enrollmentId } from '../../common/ids';
import type { EnrollmentConfig } from '../../config';
import { Enrollment, RolloverOutcome } from '../../enrollments/enrollment.schema';
import { EnrollmentEvents } from '../../enrollments/enrollment-events';
import { EnrollmentsRepository } from '../../enrollments/enrollments.repository';
import { Program } from '../../programs/program.schema';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ConsumerCatchUp } from '../consumer-catch-up';
import { BatchContext, RenewalContext } from '../renewal-context';
import { RenewalDecision } from '../renewal-rules';

export interface RolloverSummary {
  fromFiscalYear: string;
  toFiscalYear: string;
  /** ENROLLED enrollments of the ending year looked at. */
  examined: number;
  renewed: number;
  actionRequired: number;
  expired: number;
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
  /** False when the run stopped at `limit` with enrollments left. */
  complete: boolean;
}

const PRE_SUBMIT = new Set(['INVITED', 'ACTION_REQUIRED']);

/**
 * The fiscal-year rollover of one ending year. Each ENROLLED enrollment of `fromFiscalYear` not yet rolled over:
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
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {}

  async execute({ fromFiscalYear, limit }: { fromFiscalYear: string; limit?: number }): Promise<RolloverSummary> {
    if (this.running.has(fromFiscalYear)) throw Problems.conflict(`A rollover of ${fromFiscalYear} is running already.`);
    this.running.add(fromFiscalYear);
    try {
      return await this.run(fromFiscalYear, limit);
    } finally {
      this.running.delete(fromFiscalYear);
    }
  }

  private async run(fromFiscalYear: string, limit?: number): Promise<RolloverSummary> {
    const started = Date.now();
    const toFiscalYear = nextFiscalYear(fromFiscalYear);
    const summary: RolloverSummary = {
      fromFiscalYear,
      toFiscalYear,
      examined: 0,
      renewed: 0,
      actionRequired: 0,
      expired: 0,
      superseded: 0,
      resumed: 0,
      conflicts: 0,
      batches: 0,
      durationMs: 0,
      caughtUp: await this.catchUp.wait(),
      complete: true,
    };
    const programs = await this.programs.all();
    const batchSize = this.config.ROLLOVER_BATCH_SIZE;
    const cursor = this.enrollments.model.collection.find(
      { fiscalYear: fromFiscalYear, status: 'ENROLLED', rollover: { $exists: false } } as never,
      { projection: { outbox: 0 }, batchSize },
    );
    try {
      let batch: Enrollment[] = [];
      for await (const doc of cursor) {
        if (limit !== undefined && summary.examined + batch.length >= limit) {
          summary.complete = false;
          break;
        }
        batch.push(doc as unknown as Enrollment);
        if (batch.length >= batchSize) {
          await this.batch(batch, programs, summary);
          batch = [];
          if (this.config.ROLLOVER_BATCH_PAUSE_MS) await sleep(this.config.ROLLOVER_BATCH_PAUSE_MS);
        }
      }
      if (batch.length) await this.batch(batch, programs, summary);
    } finally {
      await cursor.close().catch(() => undefined);
    }
    summary.durationMs = Date.now() - started;
    this.logger.log(`rollover ${fromFiscalYear} -> ${toFiscalYear}: ${JSON.stringify(summary)}`);
    return summary;
  }

  private async batch(batch: Enrollment[], programs: Map<string, Program>, summary: RolloverSummary): Promise<void> {
    const { fromFiscalYear, toFiscalYear } = summary;
    const ctx = await this.context.load(batch, programs, fromFiscalYear, toFiscalYear, true);
    const now = new Date();
    const inserts: Array<{ doc: Enrollment & { outbox: OutboxEntry[] }; from: Enrollment; outcome: RolloverOutcome }> = [];
    const markers: Record<RolloverOutcome, string[]> = { RENEWED: [], ACTION_REQUIRED: [], SUPERSEDED: [], EXPIRED: [] };
    const expiries: Array<{ updateOne: { filter: object; update: object } }> = [];
    const takeOvers: Array<{ from: Enrollment; next: NonNullable<ReturnType<BatchContext['next']>>; doc: Enrollment; outcome: RolloverOutcome; event: OutboxEntry }> = [];

    for (const enrollment of batch) {
      summary.examined++;
      const existing = ctx.next(enrollment);
      if (existing?.renewedFrom === enrollment._id) {
        // An interrupted run created the next-year enrollment (with its event): only the marker is missing.
        markers[existing.status === 'ENROLLED' ? 'RENEWED' : 'ACTION_REQUIRED'].push(enrollment._id);
        summary.resumed++;
        continue;
      }
      const decision = ctx.decide(enrollment);
      if (decision.outcome === 'EXPIRED') {
        expiries.push(this.expiry(enrollment, decision, toFiscalYear, now));
        continue;
      }
      if (existing && !(PRE_SUBMIT.has(existing.status) && !existing.submittedAt)) {
        // Enrolled (or ended) in the next year on its own: nothing to continue.
        markers.SUPERSEDED.push(enrollment._id);
        continue;
      }
      const program = programs.get(enrollment.programId)!;
      const doc = this.nextYear(enrollment, program, decision, toFiscalYear, existing?.version ?? 0, now);
      const event = this.events.event(decision.outcome === 'RENEWED' ? 'EnrollmentRenewed' : 'EnrollmentActionRequired', doc, {
        extra: decision.outcome === 'RENEWED' ? { fromFiscalYear } : {},
        eventId: deterministicId('rollover', enrollment._id, toFiscalYear),
      });
      if (existing) takeOvers.push({ from: enrollment, next: existing, doc, outcome: decision.outcome, event });
      else inserts.push({ doc: { ...doc, outbox: [event] }, from: enrollment, outcome: decision.outcome });
    }

    const collection = this.enrollments.model.collection;
    // 1. The next-year enrollments, each with its event. A duplicate means another run wrote it: not marked here.
    const { duplicates } = await insertIdempotent(collection as never, inserts.map((i) => i.doc));
    const duplicate = new Set(duplicates);
    inserts.forEach((insert, index) => {
      if (duplicate.has(index)) {
        summary.conflicts++;
        return;
      }
      markers[insert.outcome].push(insert.from._id);
      if (insert.outcome === 'RENEWED') summary.renewed++;
      else summary.actionRequired++;
    });
    // A next-year enrollment that only an invitation (or an unfinished Enroll) had started becomes the continuation.
    for (const takeOver of takeOvers) {
      const { _id, createdAt: _createdAt, ...fields } = takeOver.doc;
      const result = await collection.updateOne(
        { _id, version: takeOver.next.version } as never,
        { $set: fields, $push: pushOutbox([takeOver.event]) } as never,
      );
      if (result.matchedCount === 0) {
        summary.conflicts++;
        continue;
      }
      markers[takeOver.outcome].push(takeOver.from._id);
      if (takeOver.outcome === 'RENEWED') summary.renewed++;
      else summary.actionRequired++;
    }
    // 2. The expired ones: status and event in one guarded write each.
    if (expiries.length) {
      const outcome = await bulkWriteChunked(collection as never, expiries as never);
      summary.expired += outcome.modified;
      summary.conflicts += expiries.length - outcome.matched;
    }
    // 3. The markers, once the next-year enrollments exist: one update per outcome.
    summary.superseded += markers.SUPERSEDED.length;
    for (const outcome of ['RENEWED', 'ACTION_REQUIRED', 'SUPERSEDED'] as const) {
      if (markers[outcome].length === 0) continue;
      await collection.updateMany(
        { _id: { $in: markers[outcome] } } as never,
        { $set: { rollover: { toFiscalYear, outcome, at: now }, updatedAt: now }, $inc: { version: 1 } } as never,
      );
    }
    summary.batches++;
    this.events.committed();
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
