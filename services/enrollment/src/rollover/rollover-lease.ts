import { isDuplicateKey } from '@lib/messaging';
import { CONFIG, ProblemException, Problems } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectModel, Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { randomUUID } from 'node:crypto';
import type { EnrollmentConfig } from '../config';

/** Who runs the rollover of a fiscal year now, across every instance of the service (`_id`: the year). */
@Schema({ collection: 'rollover_leases', versionKey: false })
export class RolloverLeaseRecord {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) holder!: string;
  @Prop({ required: true }) until!: Date;
}
export const RolloverLeaseSchema = SchemaFactory.createForClass(RolloverLeaseRecord);

export interface HeldLease {
  /**
   * False once this run may no longer count on the lease: another instance took it over (a renewal found it gone),
   * or the last successful renewal is two thirds of the lease old (renewals failing, or this process stalled), so
   * that a third of the lease (5 s by default) is left for a write already sent. Writers check it before each phase.
   */
  readonly held: boolean;
}

/**
 * One rollover of a fiscal year at a time, in the whole deployment: every replica runs the daily job, and an
 * operator may ask any of them. The rollover is safe to rerun, not to run twice at once (both runs would mark the
 * same old enrollments, and the marks go by `_id` alone: see RollOverFiscalYear), so a run first takes the year's
 * lease (one document, renewed every quarter of its length) and a second run answers 409 while it is held. A lease
 * whose holder died expires and the next run takes it; a holder that finds it taken over, or cannot renew it in
 * time, stops (`HeldLease.held`). `until` is written from the holder's clock and read against the taker's: the
 * instances' clocks must agree to well within a third of the lease (NTP).
 */
@Injectable()
export class RolloverLease {
  private readonly logger = new Logger(RolloverLease.name);

  constructor(
    @InjectModel(RolloverLeaseRecord.name) private readonly leases: Model<RolloverLeaseRecord>,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {}

  /**
   * Runs `work` holding the year's lease; 409 busy while another run holds it, with Retry-After when that lease runs
   * out unless renewed (a lower bound: a live run renews it).
   */
  async hold<T>(fiscalYear: string, work: (lease: HeldLease) => Promise<T>, leaseMs = this.config.ROLLOVER_LEASE_MS): Promise<T> {
    const holder = randomUUID();
    let renewedAt = Date.now(); // when the last successful take or renewal was sent: its `until` counts from then
    if (!(await this.take(fiscalYear, holder, leaseMs))) throw await this.held(fiscalYear);
    let takenOver = false;
    const lease: HeldLease = {
      get held() {
        return !takenOver && Date.now() - renewedAt < (leaseMs * 2) / 3;
      },
    };
    let renewing: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      const asked = Date.now();
      renewing = this.renew(fiscalYear, holder, leaseMs).then(
        (kept) => {
          if (kept) renewedAt = Math.max(renewedAt, asked);
          else if (!takenOver) {
            takenOver = true;
            this.logger.warn(`the lease on the rollover of ${fiscalYear} was taken over; this run stops`);
          }
        },
        (error) => this.logger.warn(`renewing the lease on the rollover of ${fiscalYear} failed (${(error as Error).message}); trying again`),
      );
    }, Math.max(1, Math.floor(leaseMs / 4)));
    try {
      return await work(lease);
    } finally {
      clearInterval(timer);
      await renewing;
      await this.leases.collection.deleteOne({ _id: fiscalYear as never, holder }).catch((error) => {
        this.logger.warn(`releasing the lease on the rollover of ${fiscalYear} failed (${(error as Error).message}); it expires by itself`);
      });
    }
  }

  /** The answer while another run holds the year: momentary (never stored as an Idempotency-Key's answer). */
  private async held(fiscalYear: string): Promise<ProblemException> {
    const current = await this.leases.collection.findOne({ _id: fiscalYear as never });
    const until = (current?.until as Date | undefined)?.getTime() ?? Date.now();
    return Problems.busy(`A rollover of ${fiscalYear} is running already (in this or another instance); run it again once it is done.`).retryAfter(
      (until - Date.now()) / 1000,
    );
  }

  /** Takes the year's lease if nobody holds it or its holder's time is up: an upsert that cannot insert a held one. */
  private async take(fiscalYear: string, holder: string, leaseMs: number): Promise<boolean> {
    const now = new Date();
    try {
      await this.leases.collection.updateOne(
        { _id: fiscalYear as never, until: { $lte: now } },
        { $set: { holder, until: new Date(now.getTime() + leaseMs) } },
        { upsert: true },
      );
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false; // held: the upsert found no expired lease and could not insert one
      throw error;
    }
  }

  private async renew(fiscalYear: string, holder: string, leaseMs: number): Promise<boolean> {
    const { matchedCount } = await this.leases.collection.updateOne({ _id: fiscalYear as never, holder }, { $set: { until: new Date(Date.now() + leaseMs) } });
    return matchedCount === 1;
  }
}
