import { ProcessedEventLedger } from '@lib/messaging';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { Connection } from 'mongoose';
import { CONFIG } from '../config/config';
import type { PlatformConfig } from '../platform.module';
import { RetentionSweep } from './retention-sweep';

/**
 * Removes consumed-event ledger entries (`processed_events`, @lib/messaging's ProcessedEventLedger) older than
 * PROCESSED_EVENTS_RETENTION_MS (0, the default, keeps them forever), so that the ledger need not grow with every event
 * ever consumed. An event delivered again after its entry went (a replay from the start of a history topic) is applied
 * again, and changes nothing: the handlers are idempotent on their own (deterministic ids, guarded writes), as they are
 * for the crash between an effect and its entry. The ledger then only saves that work.
 */
@Injectable()
export class LedgerRetention extends RetentionSweep {
  constructor(
    @InjectConnection() connection: Connection,
    @Inject(CONFIG) config: Pick<PlatformConfig, 'PROCESSED_EVENTS_RETENTION_MS'>,
    private readonly ledger: ProcessedEventLedger,
  ) {
    super({
      job: 'processed-events-retention',
      logger: new Logger('ProcessedEvents'),
      collection: () => connection.collection('processed_events'),
      field: 'processedAt',
      retentionMs: config.PROCESSED_EVENTS_RETENTION_MS,
      what: 'processed-event entries',
    });
  }

  /**
   * Dead-lettered events applied since (a replay) are marked so first (ProcessedEventLedger.unapplied): once their
   * entries are gone, they would read as not applied again, and hold a rollover that checks them.
   */
  override async removeExpired(now = new Date()): Promise<number> {
    await this.ledger.unapplied();
    return super.removeExpired(now);
  }
}
