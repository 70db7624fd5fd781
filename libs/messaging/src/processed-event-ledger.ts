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

  /** Which of these events the group has applied: one indexed read for a whole batch of messages. */
  async processed(groupId: string, eventIds: string[]): Promise<Set<string>> {
    if (eventIds.length === 0) return new Set();
    const prefix = `${groupId}:`;
    const rows = await this.collection
      .find({ _id: { $in: eventIds.map((eventId) => this.id(groupId, eventId)) } }, { projection: { _id: 1 } })
      .toArray();
    return new Set(rows.map((row) => row._id.slice(prefix.length)));
  }

  /** Records several applied events in one round trip (unordered upserts: an entry already there stays). */
  async recordMany(groupId: string, entries: Array<{ eventId: string; topic: string; partition: number; offset: string }>): Promise<void> {
    if (entries.length === 0) return;
    const processedAt = new Date();
    await this.collection.bulkWrite(
      entries.map(({ eventId, ...origin }) => ({
        updateOne: {
          filter: { _id: this.id(groupId, eventId) },
          update: { $setOnInsert: { ...origin, processedAt } },
          upsert: true,
        },
      })),
      { ordered: false },
    );
  }
}
