import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { Connection } from 'mongoose';
import { MESSAGING_OPTIONS, MessagingOptions, resolveOptions } from './options';

/** How often old entries are removed; the first pass runs at start. */
const EVERY_MS = 3_600_000;

/**
 * Removes processed-event ledger entries older than `ledgerRetentionMs` (PROCESSED_EVENTS_RETENTION_MS; 0, the
 * default, keeps them forever), so that `processed_events` need not grow with every event ever consumed. An event
 * delivered again after its entry went (a replay from the start of a history topic) is applied again, and changes
 * nothing: the handlers are idempotent on their own (deterministic ids, guarded writes), as they are for the crash
 * between an effect and its entry. The ledger then only saves that work. A periodic delete, as IdempotencyRetention's,
 * rather than a TTL index (FerretDB has none); every replica runs it, which deletes nothing twice.
 */
@Injectable()
export class LedgerRetention implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ProcessedEvents');
  private readonly retentionMs: number;
  private timer?: NodeJS.Timeout;

  constructor(
    @InjectConnection() private readonly connection: Connection,
    @Inject(MESSAGING_OPTIONS) options: MessagingOptions,
  ) {
    this.retentionMs = resolveOptions(options).ledgerRetentionMs;
  }

  onModuleInit(): void {
    if (!this.retentionMs) return;
    const run = () => void this.removeExpired().catch((error: Error) => this.logger.warn(`could not remove old ledger entries: ${error.message}`));
    // The delete's range, not a scan of the whole ledger each hour.
    void this.collection.createIndex({ processedAt: 1 }).then(run, run);
    this.timer = setInterval(run, EVERY_MS).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  private get collection() {
    return this.connection.collection('processed_events');
  }

  /** Removes the entries recorded before the retention period; how many. */
  async removeExpired(now = new Date()): Promise<number> {
    if (!this.retentionMs) return 0;
    const before = new Date(now.getTime() - this.retentionMs);
    const { deletedCount } = await this.collection.deleteMany({ processedAt: { $lt: before } });
    if (deletedCount) this.logger.log(`removed ${deletedCount} processed-event entries recorded before ${before.toISOString()}`);
    return deletedCount;
  }
}
