import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { Connection } from 'mongoose';
import { CONFIG } from '../config/config';
import type { PlatformConfig } from '../platform.module';
import { PeriodicJob } from './periodic-job';

/** How often old entries are removed; the first pass runs at start. */
const EVERY_MS = 3_600_000;

/**
 * Removes consumed-event ledger entries (`processed_events`, @lib/messaging's ProcessedEventLedger) older than
 * PROCESSED_EVENTS_RETENTION_MS (0, the default, keeps them forever), so that the ledger need not grow with every event
 * ever consumed. An event delivered again after its entry went (a replay from the start of a history topic) is applied
 * again, and changes nothing: the handlers are idempotent on their own (deterministic ids, guarded writes), as they are
 * for the crash between an effect and its entry. The ledger then only saves that work. A periodic delete
 * (PeriodicJob), as IdempotencyRetention's; every replica runs it, which deletes nothing twice.
 */
@Injectable()
export class LedgerRetention implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ProcessedEvents');
  private readonly job = new PeriodicJob('processed-events-retention', () => this.removeExpired(), this.logger);

  constructor(
    @InjectConnection() private readonly connection: Connection,
    @Inject(CONFIG) private readonly config: Pick<PlatformConfig, 'PROCESSED_EVENTS_RETENTION_MS'>,
  ) {}

  onModuleInit(): void {
    if (this.config.PROCESSED_EVENTS_RETENTION_MS) this.job.start(EVERY_MS);
  }

  onModuleDestroy(): void {
    this.job.stop();
  }

  private get collection() {
    return this.connection.collection('processed_events');
  }

  /** Removes the entries recorded before the retention period (none while it is 0); how many. */
  async removeExpired(now = new Date()): Promise<number> {
    if (!this.config.PROCESSED_EVENTS_RETENTION_MS) return 0;
    // The delete's range, not a scan of the whole ledger each hour (a no-op once it exists).
    await this.collection.createIndex({ processedAt: 1 });
    const before = new Date(now.getTime() - this.config.PROCESSED_EVENTS_RETENTION_MS);
    const { deletedCount } = await this.collection.deleteMany({ processedAt: { $lt: before } });
    if (deletedCount) this.logger.log(`removed ${deletedCount} processed-event entries recorded before ${before.toISOString()}`);
    return deletedCount;
  }
}
