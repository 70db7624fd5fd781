import { Injectable } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { Collection, Connection } from 'mongoose';

interface LedgerEntry {
  _id: string;
  topic: string;
  partition: number;
  offset: string;
  processedAt: Date;
}

/**
 * Which events a consumer group has already applied. A redelivered event is skipped here; handlers are still
 * written to be idempotent (deterministic ids, conditional updates), because a crash can fall between the
 * effect and the ledger write.
 */
@Injectable()
export class ProcessedEventLedger {
  constructor(@InjectConnection() private readonly connection: Connection) {}

  private get collection(): Collection<LedgerEntry> {
    return this.connection.collection<LedgerEntry>('processed_events') as unknown as Collection<LedgerEntry>;
  }

  private id(groupId: string, eventId: string): string {
    return `${groupId}:${eventId}`;
  }

  async has(groupId: string, eventId: string): Promise<boolean> {
    return (await this.collection.countDocuments({ _id: this.id(groupId, eventId) }, { limit: 1 })) > 0;
  }

  async record(groupId: string, eventId: string, origin: { topic: string; partition: number; offset: string }) {
    await this.collection.updateOne(
      { _id: this.id(groupId, eventId) },
      { $setOnInsert: { ...origin, processedAt: new Date() } },
      { upsert: true },
    );
  }
}
