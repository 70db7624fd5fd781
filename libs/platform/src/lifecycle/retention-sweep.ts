import { Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Collection, Document, Filter } from 'mongodb';
import { PeriodicJob } from './periodic-job';

/** How often a retention sweep runs; the first pass runs at start. */
const EVERY_MS = 3_600_000;

export interface RetentionOptions {
  /** The job's name (PeriodicJob: its trace and failure lines). */
  job: string;
  logger: Logger;
  collection: () => Collection<Document>;
  /** The date the retention counts from; indexed here, so each delete reads its range, not the whole collection. */
  field: string;
  /** How long a document is kept; 0 keeps every one (the sweep never runs, and removes nothing when asked). */
  retentionMs: number;
  /** Which of the documents past the retention may go, at `now` (all of them when absent). */
  removable?: (now: Date) => Filter<Document>;
  /** What the log line counts: "stored answer(s)". */
  what: string;
}

/**
 * Removes a collection's documents older than a retention period, at start and every hour (PeriodicJob), rather than
 * with a TTL index (FerretDB, the alternative local server, has none). Every replica runs it: a delete removes nothing
 * twice. The platform's stored Idempotency-Key answers (IdempotencyRetention) and consumed-event ledger
 * (LedgerRetention) are kept so: each a provider passing its settings.
 */
export abstract class RetentionSweep implements OnModuleInit, OnModuleDestroy {
  private readonly job: PeriodicJob;

  protected constructor(private readonly options: RetentionOptions) {
    this.job = new PeriodicJob(options.job, () => this.removeExpired(), options.logger);
  }

  onModuleInit(): void {
    if (this.options.retentionMs) this.job.start(EVERY_MS);
  }

  onModuleDestroy(): Promise<void> {
    return this.job.stop();
  }

  /** Removes the documents older than the retention period (that `removable` allows); how many. */
  async removeExpired(now = new Date()): Promise<number> {
    const { collection: of, field, retentionMs, removable, logger, what } = this.options;
    if (!retentionMs) return 0;
    const collection = of();
    await collection.createIndex({ [field]: 1 }); // a no-op once it exists
    const before = new Date(now.getTime() - retentionMs);
    const { deletedCount } = await collection.deleteMany({ [field]: { $lt: before }, ...removable?.(now) });
    if (deletedCount) logger.log(`removed ${deletedCount} ${what} older than ${before.toISOString()}`);
    return deletedCount;
  }
}
