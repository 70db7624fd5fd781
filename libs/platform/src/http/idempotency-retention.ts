import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { Connection } from 'mongoose';
import { CONFIG } from '../config/config';
import { RetentionSweep } from '../lifecycle/retention-sweep';
import type { PlatformConfig } from '../platform.module';

/**
 * Removes stored Idempotency-Key answers older than IDEMPOTENCY_RETENTION_MS (24 h by default, as payment APIs keep
 * theirs), so that `idempotency_keys` does not grow forever. A claim still pending that old goes too once its lease
 * has ended (its request died); a claim whose request still holds it stays.
 */
@Injectable()
export class IdempotencyRetention extends RetentionSweep {
  constructor(
    @InjectConnection() connection: Connection,
    @Inject(CONFIG) config: Pick<PlatformConfig, 'IDEMPOTENCY_RETENTION_MS'>,
  ) {
    super({
      job: 'idempotency-retention',
      logger: new Logger('Idempotency'),
      collection: () => connection.collection('idempotency_keys'),
      field: 'createdAt',
      retentionMs: config.IDEMPOTENCY_RETENTION_MS,
      removable: (now) => ({ $or: [{ state: 'done' }, { leaseUntil: { $lte: now } }, { leaseUntil: { $exists: false } }] }),
      what: 'stored answer(s)',
    });
  }
}
