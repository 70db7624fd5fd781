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
 * Which events a service has already applied, per consumer group id (the service's: every consumer of the service
 * records under it, also one of its own, so that a topic moved to or from a consumer of its own finds what the other
 * applied). A redelivered event is skipped here; handlers are still written to be idempotent (deterministic ids,
 * conditional updates), because a crash can fall between the effect and the ledger write.
 */
@Injectable()
export class ProcessedEventLedger {
  constructor(@InjectConnection() private readonly connection: Connection) {}

  private get collection(): Collection<LedgerEntry> {
    return this.connection.collection<LedgerEntry>('processed_events') as unknown as Collection<LedgerEntry>;
  }

  /** Recorded lower-cased: a UUID reads the same in either case (an event re-sent upper-cased is still a duplicate). */
  private id(groupId: string, eventId: string): string {
    return `${groupId}:${eventId.toLowerCase()}`;
  }

  /**
   * Which of these events were applied under any of `groupIds` (the service's group, and the group of a consumer of its
   * own, under which releases before the service's group id was used recorded): one indexed read for a chunk of messages.
   */
  async processed(groupIds: readonly string[], eventIds: string[]): Promise<Set<string>> {
    if (eventIds.length === 0) return new Set();
    // Also as sent: releases before recorded ids as their messages named them.
    const ids = groupIds.flatMap((groupId) => eventIds.flatMap((eventId) => [this.id(groupId, eventId), `${groupId}:${eventId}`]));
    const rows = await this.collection.find({ _id: { $in: [...new Set(ids)] } }, { projection: { _id: 1 } }).toArray();
    const found = new Set<string>();
    for (const { _id } of rows) {
      const groupId = groupIds.find((group) => _id.startsWith(`${group}:`));
      if (groupId !== undefined) found.add(_id.slice(groupId.length + 1).toLowerCase());
    }
    // The ids as the messages name them.
    return new Set(eventIds.filter((eventId) => found.has(eventId.toLowerCase())));
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
