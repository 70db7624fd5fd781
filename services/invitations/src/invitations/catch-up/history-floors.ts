import { Topics } from '@lib/contracts';
import { KAFKA, MESSAGING_OPTIONS, MessagingOptions, UPDATES_PER_COMMAND } from '@lib/messaging';
import { Inject, Injectable } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Admin, Kafka } from 'kafkajs';
import type { Collection } from 'mongodb';
import type { Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';

/**
 * What an earlier deployment's events of one invitation used: no version, and no cycle, above `above`. Every write of
 * an invitation raises its version by one and starts at most one cycle, so its cycle is never above its version; an
 * event tells the version its write made. So the highest `invitationVersion` among its events bounds every cycle that
 * made an event id (a cycle that made none, an invitation waiting for a company admin to ask, used no id). Events of a
 * producer before `invitationVersion` count one each (a cycle starts with one event at most).
 */
export interface HistoryFloor {
  _id: string;
  above: number;
}

/** One partition of invitations.events.v1 to read up to `end` (its end offset when the first start looked). */
export interface OwnTarget {
  partition: number;
  end: string;
}

/** No batch for this long while partitions are left: the read is given up, and tried again (the run's retry). */
const STALL_MS = 30_000;

/**
 * The floors of invitations an earlier deployment of this service published on `invitations.events.v1` (its database
 * lost, or a new one started next to the topics): read once, on the first start on an empty database, before it
 * invites anyone (FirstCatchUp). An invitation this service creates then starts above its floor: its events' versions
 * follow the earlier ones (consumers order an invitation's events by `invitationVersion`, and would take a lower one
 * for an old one: the enrollment service keeps the highest it recorded, notification its withdrawals), and its cycles
 * too (the events' ids are made of the invitation and its cycle: an id an earlier cycle used is a duplicate consumers
 * drop, so an invitation issued again would reach nobody). An invitation the history does not name starts at 1.
 */
@Injectable()
export class HistoryFloors {
  private readonly floors: Collection<HistoryFloor>;
  /** Whether any floor is stored: when none is (the usual case), a new invitation is not looked up. */
  private present = false;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(MESSAGING_OPTIONS) private readonly options: MessagingOptions,
    @InjectConnection() connection: Connection,
  ) {
    this.floors = connection.collection<HistoryFloor>('history_floors');
  }

  /** Looks whether any floor is stored (FirstCatchUp, before its gate opens); not told (the database away): looked up. */
  async load(): Promise<void> {
    this.present = await this.floors.findOne({}, { projection: { _id: 1 } }).then(
      (found) => found !== null,
      () => true,
    );
  }

  /** The floor of a new invitation, if the history named it. */
  async of(invitationId: string): Promise<HistoryFloor | null> {
    if (!this.present) return null;
    return this.floors.findOne({ _id: invitationId });
  }

  /** The partitions of invitations.events.v1 holding events now, each to its end offset (`known`: the topics there are). */
  static async targets(admin: Admin, known: Set<string>): Promise<OwnTarget[]> {
    if (!known.has(Topics.invitations)) return [];
    return (await admin.fetchTopicOffsets(Topics.invitations)).filter(({ low, high }) => BigInt(high) > BigInt(low)).map(({ partition, high }) => ({ partition, end: high }));
  }

  /**
   * Reads `targets` from the beginning (a consumer group of its own, `<KAFKA_GROUP_ID>-history-<uuid>`, deleted after)
   * and stores each invitation's floor ($max: a read started again lowers none). Answers how many invitations it found.
   * Thrown when it could not read them all (shutdown: `stopped`, given up at once, also while the broker does not
   * answer; the consumer refused, say by an ACL, which the error names; no batch for STALL_MS while a partition still
   * holds messages before its end): the caller tries again, as a floor missed would let an invitation reuse an id.
   */
  async read(targets: OwnTarget[], stopping: () => boolean, stopped: Promise<void>): Promise<number> {
    let given: (error: Error) => void = () => undefined;
    const givenUp = new Promise<never>((_, reject) => (given = reject));
    givenUp.catch(() => undefined);
    void stopped.then(() => given(new Error('shutting down')));
    return Promise.race([this.readAll(targets, stopping), givenUp]);
  }

  private async readAll(targets: OwnTarget[], stopping: () => boolean): Promise<number> {
    const ends = await this.reachable(targets);
    if (ends.size === 0) return 0;
    const found = new Map<string, { events: number; version: number }>();
    const groupId = `${this.options.groupId ?? this.options.serviceName}-history-${randomUUID()}`;
    const consumer = this.kafka.consumer({ groupId, allowAutoTopicCreation: false });
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    let last = Date.now();
    const watch = setInterval(() => {
      if (stopping() || Date.now() - last > STALL_MS) finish();
    }, 1_000);
    // A consumer that stops for good (a refusal KafkaJS does not retry: not authorized to read the topic or to join the
    // group) sends no more batches: said at once, with why.
    let refused: Error | undefined;
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) return;
      refused = new Error(`could not read invitations.events.v1 (group ${groupId}): ${payload.error.message}`);
      finish();
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: Topics.invitations, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          last = Date.now();
          const end = ends.get(batch.partition);
          if (end === undefined) return;
          for (const message of batch.messages) {
            if (BigInt(message.offset) >= end) break;
            const data = invitationOf(message.value);
            if (!data) continue;
            const seen = found.get(data.invitationId) ?? { events: 0, version: 0 };
            found.set(data.invitationId, { events: seen.events + 1, version: Math.max(seen.version, data.version) });
          }
          if (BigInt(batch.lastOffset()) + 1n >= end) {
            ends.delete(batch.partition);
            if (ends.size === 0) finish();
          }
        },
      });
      await finished;
    } finally {
      clearInterval(watch);
      await consumer.disconnect().catch(() => undefined);
      await this.withAdmin((admin) => admin.deleteGroups([groupId])).catch(() => undefined);
    }
    if (stopping()) throw new Error('shutting down');
    if (refused) throw refused;
    if (ends.size > 0) {
      throw new Error(`invitations.events.v1 partition(s) ${[...ends.keys()].join(', ')} not read to their end: no message for ${STALL_MS / 1_000} s`);
    }
    const floors = [...found].map(([_id, { events, version }]) => ({ updateOne: { filter: { _id }, update: { $max: { above: Math.max(events, version) } }, upsert: true } }));
    for (let i = 0; i < floors.length; i += UPDATES_PER_COMMAND) await this.floors.bulkWrite(floors.slice(i, i + UPDATES_PER_COMMAND), { ordered: false });
    this.present ||= floors.length > 0;
    return found.size;
  }

  /**
   * The stored targets as the topic is now: up to an end it still has (a topic deleted and created again, a log cut
   * short, ends below the stored one: up to that), and none of a partition gone or whose messages before its end were
   * deleted (retention): a target nothing can reach would fail every read for ever.
   */
  private async reachable(targets: OwnTarget[]): Promise<Map<number, bigint>> {
    const now = await this.withAdmin(async (admin) =>
      (await admin.listTopics()).includes(Topics.invitations) ? admin.fetchTopicOffsets(Topics.invitations) : [],
    );
    const ends = new Map<number, bigint>();
    for (const { partition, end } of targets) {
      const offsets = now.find((o) => o.partition === partition);
      const reach = offsets ? (BigInt(end) < BigInt(offsets.high) ? BigInt(end) : BigInt(offsets.high)) : 0n;
      if (offsets && reach > BigInt(offsets.low)) ends.set(partition, reach);
    }
    return ends;
  }

  private async withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      return await use(admin);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}

/** The invitation an event of invitations.events.v1 names, and its version (0: none said); undefined for anything else. */
function invitationOf(value: Buffer | null): { invitationId: string; version: number } | undefined {
  try {
    const data = JSON.parse(value?.toString('utf8') ?? 'null')?.data;
    if (typeof data?.invitationId !== 'string') return undefined;
    const version = Number.isSafeInteger(data.invitationVersion) && data.invitationVersion > 0 ? data.invitationVersion : 0;
    return { invitationId: data.invitationId, version };
  } catch {
    return undefined;
  }
}
