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
  /** False once another instance took the year over (this one stalled past the lease): stop before the next write. */
  readonly held: boolean;
}

/**
 * One rollover of a fiscal year at a time, in the whole deployment: every replica runs the daily job, and an
 * operator may ask any of them. The rollover is safe to rerun, not to run twice at once (both runs would mark the
 * same old enrollments, and the marks go by `_id` alone: see RollOverFiscalYear), so a run first takes the year's
 * lease (one document, renewed every third of its length) and a second run answers 409 while it is held. A lease
 * whose holder died expires and the next run takes it; a holder that finds it taken over stops.
 */
@Injectable()
export class RolloverLease {
  private readonly logger = new Logger(RolloverLease.name);

  constructor(
    @InjectModel(RolloverLeaseRecord.name) private readonly leases: Model<RolloverLeaseRecord>,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {}

  /** Runs `work` holding the year's lease; 409 (with Retry-After: when the lease runs out) while another run holds it. */
  async hold<T>(fiscalYear: string, work: (lease: HeldLease) => Promise<T>, leaseMs = this.config.ROLLOVER_LEASE_MS): Promise<T> {
    const holder = randomUUID();
    if (!(await this.take(fiscalYear, holder, leaseMs))) throw await this.held(fiscalYear);
    const lease = { held: true };
    let renewing: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      renewing = this.renew(fiscalYear, holder, leaseMs).then(
        (kept) => {
          if (!kept && lease.held) this.logger.warn(`the lease on the rollover of ${fiscalYear} was taken over; this run stops`);
          lease.held &&= kept;
        },
        (error) => this.logger.warn(`renewing the lease on the rollover of ${fiscalYear} failed (${(error as Error).message}); trying again`),
      );
    }, Math.max(1, Math.floor(leaseMs / 3)));
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
