/**
 * `npm run dlq -- <command>`: what an operator does with dead letters (`<topic>.dlq`, see README "Reliability"), on the
 * platform `npm start` runs (or the brokers in KAFKA_BROKERS).
 *
 *   npm run dlq -- list <topic> [--group <consumer group>]
 *       every dead letter of <topic>, oldest first: its place in the DLQ (partition:offset), when and by which consumer
 *       group it failed, after how many attempts, why, and the event it holds (type, eventId, key)
 *   npm run dlq -- replay <topic> <partition:offset>... | --all [--group <consumer group>]
 *       publishes each one's original message again on <topic>, as it was (same key, value and headers, so the same
 *       eventId: consumers that processed it already skip it, their ledgers know it; to the partition it came from),
 *       for the failed consumer to take it up after its cause was fixed, each event once (one dead-lettered by several
 *       groups, or a replayed copy of it that failed again, goes once; a letter of an empty record is left out). A dead
 *       letter sent without its value (too large) is replayed from the original
 *       record, read at its topic, partition and offset (while the topic keeps it)
 *   npm run dlq -- republish <topic> <partition:offset>...
 *       publishes the record of <topic> at each partition:offset again, as it is, to the same partition: the original
 *       of a dead letter the DLQ no longer keeps (its retention is the broker's default, about a week), named by the
 *       enrollment service's 503 inputs-dead-lettered (`deadLetters`: topic, partition, offset), while <topic> keeps it
 *
 * The listing reads the DLQ with a consumer group of its own that commits nothing and is deleted afterwards; replaying
 * does not remove the dead letter (a DLQ is a log: the listing shows it still, with the replay's outcome to be seen on
 * the consumer's metrics and, should it fail again, as a new dead letter).
 */
import { REPLAY_OF_HEADER, Topics } from '@lib/contracts';
import { DeadLetter, readDeadLetters, readRecord, writableHeaders } from '@lib/messaging';
import { kafkaConnectionFromEnv } from '@lib/platform';
import { IHeaders, Kafka, KafkaConfig, logLevel, Message } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { brokersFor } from './running-platform';

/** One line per dead letter: where, when, which group, why, and what it holds. */
export function describe(letter: DeadLetter): string {
  const event = !letter.value
    ? letter.valueDropped
      ? `(value dropped: ${letter.valueDropped})`
      : '(no value: an empty record)'
    : letter.notJson
      ? `(not JSON, ${letter.value.length} bytes)`
      : `${letter.type ?? '(no type)'} ${letter.eventId ?? '(no eventId)'}`;
  return [
    letter.at,
    letter.failedAt || '(no time)',
    `group ${letter.consumerGroup || '(none)'}`,
    `${letter.originalTopic}[${letter.originalPartition}]@${letter.originalOffset}`,
    `${letter.attempts} attempt(s)`,
    `key ${letter.key ?? '(none)'}`,
    event,
    `error: ${letter.error}`,
  ].join('  ');
}

export class DeadLetters {
  private readonly kafka: Kafka;

  /** `connection`: TLS and SASL, as the services connect (KAFKA_TLS*, KAFKA_SASL_*: kafkaConnectionFromEnv). */
  constructor(brokers: string[], connection: Omit<KafkaConfig, 'brokers'> = {}) {
    this.kafka = new Kafka({ clientId: `dead-letters-${randomUUID().slice(0, 8)}`, brokers, logLevel: logLevel.NOTHING, ...connection });
  }

  /** Every dead letter of `topic` (optionally of one consumer group), by partition and offset. */
  async list(topic: string, { group }: { group?: string } = {}): Promise<DeadLetter[]> {
    const letters = await readDeadLetters(this.kafka, [topic]);
    return group ? letters.filter((letter) => letter.consumerGroup === group) : letters;
  }

  /**
   * Publishes the original message of each dead letter (`at`: partition:offset in the DLQ) again on its original topic;
   * returns what it published, in order, and what it left out, with why: a letter of an empty record (no value, none
   * dropped: nothing to replay), and one holding the same event as one published before it in this run (the same
   * original dead-lettered by several consumer groups, or a replayed copy of it that failed again: every copy goes to
   * every group, and a group that failed it processes each one). Names none of `topic`'s dead letters: an Error saying
   * which.
   */
  async replay(topic: string, at: string[] | 'all', { group }: { group?: string } = {}): Promise<{ replayed: DeadLetter[]; skipped: Array<{ letter: DeadLetter; why: string }> }> {
    const letters = await this.list(topic, { group });
    const chosen = at === 'all' ? letters : at.map((place) => letters.find((letter) => letter.at === place) ?? place);
    const unknown = chosen.filter((letter): letter is string => typeof letter === 'string');
    if (unknown.length) {
      throw new Error(`No dead letter of ${topic}${group ? ` (group ${group})` : ''} at ${unknown.join(', ')}: \`npm run dlq -- list ${topic}\` shows them.`);
    }
    const replayed: DeadLetter[] = [];
    const skipped: Array<{ letter: DeadLetter; why: string }> = [];
    const first = new Map<string, DeadLetter>();
    // Every record read first (an original no longer kept fails the whole replay, with nothing published), as republish.
    const records = [];
    for (const letter of chosen as DeadLetter[]) {
      if (!letter.value && !letter.valueDropped) {
        skipped.push({ letter, why: 'no value (an empty record): nothing to replay' });
        continue;
      }
      // Told apart by the original's place, by the place of the original a replayed copy names (REPLAY_OF_HEADER: a copy
      // with no eventId to tell it by, not JSON, would otherwise be replayed with its original, doubling at each run),
      // and by its eventId.
      const copyOf = letter.headers[REPLAY_OF_HEADER];
      const same = [
        `${letter.originalTopic}[${letter.originalPartition}]@${letter.originalOffset}`,
        ...(copyOf && /^\d+:\d+$/.test(copyOf) ? [`${letter.originalTopic}[${copyOf.replace(':', ']@')}`] : []),
        ...(letter.eventId ? [`event ${letter.eventId}`] : []),
      ];
      const before = same.map((key) => first.get(key)).find(Boolean);
      if (before) {
        skipped.push({ letter, why: `the same ${before.eventId && before.eventId === letter.eventId ? `event (${letter.eventId})` : 'message'} as ${before.at}, replayed once` });
        continue;
      }
      for (const key of same) first.set(key, letter);
      replayed.push(letter);
      // Its value dropped: the original record as it is (key, value and headers).
      const record = letter.value ? { key: letter.rawKey, value: letter.value, headers: letter.rawHeaders } : await this.original(letter);
      // To the partition it came from: after its key's earlier events, whatever partitioner its producer used. Saying
      // where the original stands (REPLAY_OF_HEADER), kept from a copy of a copy: consumers ordering facts of the same
      // instant by where they read them place it there, not after a later fact of that instant.
      const partition = letter.originalPartition >= 0 ? { partition: letter.originalPartition } : {};
      const headers = { ...record.headers, [REPLAY_OF_HEADER]: record.headers[REPLAY_OF_HEADER] ?? `${letter.originalPartition}:${letter.originalOffset}` };
      records.push({ topic: letter.originalTopic, message: { ...record, headers, ...partition } });
    }
    await this.publish(records);
    return { replayed, skipped };
  }

  /** Publishes the records of `topic` at these places (`partition:offset`) again, as they are, to their partitions. */
  async republish(topic: string, at: string[]): Promise<string[]> {
    const records = [];
    for (const place of at) {
      const [partition, offset] = place.split(':');
      const found = await readRecord(this.kafka, topic, Number(partition), offset);
      if (!found?.value) throw new Error(`${topic} keeps no record at ${place} (nothing published)`);
      // A header without a value (a Java producer may write one) is read as null, which KafkaJS cannot send.
      const headers = writableHeaders(found.headers);
      records.push({ key: found.key, value: found.value, headers: { ...headers, [REPLAY_OF_HEADER]: headers[REPLAY_OF_HEADER] ?? `${Number(partition)}:${offset}` }, partition: Number(partition) });
    }
    await this.publish(records.map((message) => ({ topic, message })));
    return at;
  }

  /** Publishes these records one after the other, in order, each acknowledged before the next. */
  private async publish(records: Array<{ topic: string; message: Message }>): Promise<void> {
    const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (const { topic, message } of records) await producer.send({ topic, messages: [message] });
    } finally {
      await producer.disconnect();
    }
  }

  /** The original record of a dead letter sent without its value, read where it still is. */
  private async original(letter: DeadLetter): Promise<{ key: Buffer | null; value: Buffer; headers: IHeaders }> {
    const found = await readRecord(this.kafka, letter.originalTopic, letter.originalPartition, letter.originalOffset);
    if (!found?.value) {
      throw new Error(
        `${letter.at}: its value was dropped (${letter.valueDropped}) and ${letter.originalTopic}[${letter.originalPartition}]@${letter.originalOffset} is no longer kept (nothing published)`,
      );
    }
    return { key: found.key, value: found.value, headers: writableHeaders(found.headers) };
  }
}

const USAGE =
  'Usage: npm run dlq -- list <topic> [--group <group>] | replay <topic> <partition:offset>... | replay <topic> --all [--group <group>] | republish <topic> <partition:offset>...';

/** `partition:offset` as `list` writes it (compared as text): `0:05` is `0:5`. */
function place(text: string): string {
  const [partition, offset] = text.split(':');
  return `${Number(partition)}:${BigInt(offset)}`;
}

/** The command line's words as a command; an Error saying what is wrong otherwise. */
export function command(args: string[]): { command: 'list' | 'replay' | 'republish'; topic: string; group?: string; at: string[] | 'all' } {
  const [name, topic, ...rest] = args;
  if (name !== 'list' && name !== 'replay' && name !== 'republish') throw new Error(`${USAGE} (got ${name ?? 'nothing'}).`);
  if (!topic || topic.startsWith('--')) throw new Error(`Say which topic's dead letters (e.g. eligibility.decisions.v1). ${USAGE}`);
  if (topic === Topics.deliveryDeadLetters || `${topic}.dlq` === Topics.deliveryDeadLetters) {
    throw new Error(
      `${Topics.deliveryDeadLetters} is not a consumer's dead letters: it holds the emails the notification service finally failed to send (EmailDeadLettered events, see services/notification/README.md).`,
    );
  }
  if (topic.endsWith('.dlq')) throw new Error(`Name the topic, not its dead-letter topic: ${topic.slice(0, -'.dlq'.length)}.`);
  let group: string | undefined;
  let all = false;
  const at: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--group' && rest[i + 1]) group = rest[++i];
    else if (rest[i] === '--all' && name === 'replay') all = true;
    else if (name !== 'list' && /^\d+:\d+$/.test(rest[i])) at.push(place(rest[i]));
    else throw new Error(`Not understood: ${rest[i]}. ${USAGE}`);
  }
  if (name === 'replay' && all === (at.length > 0)) throw new Error(`Say which dead letters to replay: partition:offset as \`list\` shows them, or --all. ${USAGE}`);
  if (name === 'republish' && at.length === 0) throw new Error(`Say which records of ${topic} to publish again: partition:offset. ${USAGE}`);
  return { command: name, topic, ...(group && { group }), at: all ? 'all' : at };
}

async function main(): Promise<void> {
  const { command: name, topic, group, at } = command(process.argv.slice(2));
  const letters = new DeadLetters(brokersFor('read the dead letters'), kafkaConnectionFromEnv());
  if (name === 'list') {
    const found = await letters.list(topic, { group });
    for (const letter of found) process.stdout.write(`${describe(letter)}\n`);
    process.stdout.write(`${found.length} dead letter(s) of ${topic}${group ? ` (group ${group})` : ''}\n`);
    return;
  }
  if (name === 'republish') {
    const published = await letters.republish(topic, at as string[]);
    process.stdout.write(`${published.length} record(s) of ${topic} published again (${published.join(', ')})\n`);
    return;
  }
  const { replayed, skipped } = await letters.replay(topic, at, { group });
  for (const letter of replayed) process.stdout.write(`replayed ${letter.at} on ${letter.originalTopic} (key ${letter.key ?? 'none'})\n`);
  for (const { letter, why } of skipped) process.stdout.write(`left ${letter.at}: ${why}\n`);
  process.stdout.write(`${replayed.length} dead letter(s) replayed${skipped.length ? `, ${skipped.length} left out` : ''}\n`);
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  });
}
