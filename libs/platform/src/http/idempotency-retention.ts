import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { Connection } from 'mongoose';
import { CONFIG } from '../config/config';
import { PeriodicJob } from '../lifecycle/periodic-job';
import type { PlatformConfig } from '../platform.module';

/** How often expired answers are removed; the first pass runs at start. */
const EVERY_MS = 3_600_000;

/**
 * Removes stored Idempotency-Key answers older than IDEMPOTENCY_RETENTION_MS (24 h by default, as payment APIs keep
 * theirs), so that `idempotency_keys` does not grow forever. A periodic delete (PeriodicJob) rather than a TTL index:
 * FerretDB, the alternative local server, has none. A claim still pending that old goes too once its lease has ended.
 */
@Injectable()
export class IdempotencyRetention implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Idempotency');
  private readonly job = new PeriodicJob('idempotency-retention', () => this.removeExpired(), this.logger);

  constructor(
    @InjectConnection() private readonly connection: Connection,
    @Inject(CONFIG) private readonly config: Pick<PlatformConfig, 'IDEMPOTENCY_RETENTION_MS'>,
  ) {}

  onModuleInit(): void {
    if (this.config.IDEMPOTENCY_RETENTION_MS) this.job.start(EVERY_MS);
  }

  onModuleDestroy(): void {
    this.job.stop();
  }

  private get collection() {
    return this.connection.collection('idempotency_keys');
  }

  /**
   * Removes the answers stored before the retention period, and claims that old whose lease has ended (their request
   * died); a claim whose request still holds it stays. Returns how many.
   */
  async removeExpired(now = new Date()): Promise<number> {
    // The delete's range on MongoDB, not a scan of every stored answer each hour (a no-op once it exists).
    await this.collection.createIndex({ createdAt: 1 });
    const before = new Date(now.getTime() - this.config.IDEMPOTENCY_RETENTION_MS);
    const { deletedCount } = await this.collection.deleteMany({
      createdAt: { $lt: before },
      $or: [{ state: 'done' }, { leaseUntil: { $lte: now } }, { leaseUntil: { $exists: false } }],
    });
    if (deletedCount) this.logger.log(`removed ${deletedCount} stored answer(s) older than ${before.toISOString()}`);
    return deletedCount;
  }
}
