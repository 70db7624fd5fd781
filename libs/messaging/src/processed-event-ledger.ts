import { Injectable } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { Collection, Connection } from 'mongoose';

/**
 * An event this service dead-lettered after its handler failed (`processed_events`' sibling `dead_lettered_events`):
 * the latest failure of it under the group, and whether it was refused for good (`permanent`: bad input, a 4xx) or
 * gave up retrying a failure that might clear (a replay may apply it). Kept until removed by hand: a dead letter's
 * topic keeps it only as long as its retention, the record for as long as the question matters (see `unapplied`).
 */
export interface DeadLetteredEvent {
  _id: string;
  groupId: string;
  eventId: string;
  type: string;
  topic: string;
  partition: number;
  offset: string;
  error: string;
  permanent: boolean;
  failedAt: Date;
  /** When it was found applied since (a replay): it no longer counts, also once the ledger's entry is removed. */
  appliedAt?: Date;
}

/** Dead-lettered events checked against the ledger at a time (ProcessedEventLedger.unapplied). */
const DEAD_LETTER_PAGE = 500;

/**
 * The index `unapplied` reads the open records by (`permanent: false`, no `appliedAt`: the point bounds [null, null]),
 * in `failedAt` order: the records refused for good and those applied since stay for as long as nobody removes them,
 * and without it every check read all of them and sorted in memory.
 */
export const OPEN_DEAD_LETTERS = { permanent: 1, appliedAt: 1, failedAt: 1, _id: 1 } as const;

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
  /** OPEN_DEAD_LETTERS, created before this instance first writes or reads a dead letter (again after a failure). */
  private deadLetterIndex?: Promise<unknown>;

  constructor(@InjectConnection() private readonly connection: Connection) {}

  private get collection(): Collection<LedgerEntry> {
    return this.connection.collection<LedgerEntry>('processed_events') as unknown as Collection<LedgerEntry>;
  }

  private get deadLettered(): Collection<DeadLetteredEvent> {
    return this.connection.collection<DeadLetteredEvent>('dead_lettered_events') as unknown as Collection<DeadLetteredEvent>;
  }

  /** The dead letters' collection, its index built (a no-op once it exists; one round trip per instance). */
  private async deadLetters(): Promise<Collection<DeadLetteredEvent>> {
    this.deadLetterIndex ??= this.deadLettered.createIndex(OPEN_DEAD_LETTERS).catch((error: unknown) => {
      this.deadLetterIndex = undefined;
      throw error;
    });
    await this.deadLetterIndex;
    return this.deadLettered;
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

  /**
   * Records that the handler of this event failed and it was dead-lettered (the latest failure wins: a replay refused
   * for good after one that gave up retrying turns it `permanent`). Malformed messages, which name no event one could
   * trust, are not recorded.
   */
  async recordDeadLetter(groupId: string, entry: Omit<DeadLetteredEvent, '_id' | 'groupId' | 'failedAt'>): Promise<void> {
    const { eventId, ...rest } = entry;
    await (await this.deadLetters()).updateOne(
      { _id: this.id(groupId, eventId) },
      // A failure after it was applied once (a replay of it failing again) opens it again.
      { $set: { groupId, eventId: eventId.toLowerCase(), ...rest, failedAt: new Date() }, $unset: { appliedAt: '' } },
      { upsert: true },
    );
  }

  /**
   * The events of `topics` (all topics when absent) dead-lettered under any of `groupIds` (any group when absent) after
   * a failure that might clear (not `permanent`) and not applied since (a replay, `npm run dlq`, recorded in this
   * ledger), oldest first: facts the service's views miss. Those found applied are marked so (`appliedAt`), before
   * the ledger's retention (PROCESSED_EVENTS_RETENTION_MS) removes their entries: LedgerRetention settles them first.
   * The records still open are read a page of 500 at a time, each page checked against the ledger with one read (a bulk
   * incident's thousands of dead letters never make one query too large); the unapplied ones returned are the oldest
   * `limit`.
   */
  async unapplied(groupIds?: readonly string[], topics?: readonly string[], limit = 1_000): Promise<DeadLetteredEvent[]> {
    const deadLetters = await this.deadLetters();
    const open = deadLetters
      .find({
        permanent: false,
        appliedAt: { $exists: false },
        ...(groupIds && { groupId: { $in: [...groupIds] } }),
        ...(topics && { topic: { $in: [...topics] } }),
      })
      .sort({ failedAt: 1, _id: 1 })
      .batchSize(DEAD_LETTER_PAGE);
    const unapplied: DeadLetteredEvent[] = [];
    try {
      let page: DeadLetteredEvent[] = [];
      const check = async () => {
        const groups = [...new Set(page.map((f) => f.groupId))];
        const applied = await this.processed(groups, page.map((f) => f.eventId));
        const settled = page.filter((f) => applied.has(f.eventId));
        if (settled.length) await deadLetters.updateMany({ _id: { $in: settled.map((f) => f._id) } }, { $set: { appliedAt: new Date() } });
        unapplied.push(...page.filter((f) => !applied.has(f.eventId)).slice(0, Math.max(0, limit - unapplied.length)));
        page = [];
      };
      for await (const record of open) {
        page.push(record);
        if (page.length === DEAD_LETTER_PAGE) await check();
      }
      if (page.length) await check();
    } finally {
      await open.close();
    }
    return unapplied;
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
