/**
 * `npm run dlq -- <command>`: what an operator does with dead letters (`<topic>.dlq`, see README "Reliability"), on the
 * platform `npm start` runs (or the brokers in KAFKA_BROKERS).
 *
 *   npm run dlq -- list <topic> [--group <consumer group>]
 *       every dead letter of <topic>, oldest first: its place in the DLQ (partition:offset), when and by which consumer
 *       group it failed, after how many attempts, why, and the event it holds (type, eventId, key)
 *   npm run dlq -- replay <topic> <partition:offset>... | --all [--group <consumer group>]
 *       publishes each one's original message again on <topic>, as it was (same key, value and headers, so the same
 *       eventId: consumers that processed it already skip it, their ledgers know it), for the failed consumer to take
 *       it up after its cause was fixed. A dead letter sent without its value (too large) is replayed from the original
 *       record, read at its topic, partition and offset (while the topic keeps it)
 *
 * The listing reads the DLQ with a consumer group of its own that commits nothing and is deleted afterwards; replaying
 * does not remove the dead letter (a DLQ is a log: the listing shows it still, with the replay's outcome to be seen on
 * the consumer's metrics and, should it fail again, as a new dead letter).
 */
import { deadLetterTopic, DeadLetterHeaders } from '@lib/contracts';
import { IHeaders, Kafka, KafkaMessage, logLevel } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { runningPlatform } from './running-platform';

/** One dead letter as the DLQ holds it. */
export interface DeadLetter {
  /** Where it is in the DLQ: `partition:offset`, what `replay` names it by. */
  at: string;
  key: string | null;
  value: Buffer | null;
  /** The original message's headers, without the dead letter's own (`x-dlq-*`). */
  headers: Record<string, string>;
  error: string;
  originalTopic: string;
  originalPartition: number;
  originalOffset: string;
  consumerGroup: string;
  attempts: number;
  failedAt: string;
  valueDropped?: string;
}

const DLQ_HEADERS = new Set<string>(Object.values(DeadLetterHeaders));

function text(value: IHeaders[string]): string {
  const one = Array.isArray(value) ? value[0] : value;
  return one === undefined || one === null ? '' : String(one);
}

/** A DLQ record as a DeadLetter (its `x-dlq-*` headers read, the others kept as the original's). */
export function deadLetterOf(partition: number, message: Pick<KafkaMessage, 'offset' | 'key' | 'value' | 'headers'>, topic: string): DeadLetter {
  const all = message.headers ?? {};
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(all)) if (!DLQ_HEADERS.has(name)) headers[name] = text(value);
  const valueDropped = text(all[DeadLetterHeaders.valueDropped]);
  return {
    at: `${partition}:${message.offset}`,
    key: message.key ? message.key.toString() : null,
    value: message.value,
    headers,
    error: text(all[DeadLetterHeaders.error]),
    originalTopic: text(all[DeadLetterHeaders.originalTopic]) || topic,
    originalPartition: Number(text(all[DeadLetterHeaders.originalPartition]) || -1),
    originalOffset: text(all[DeadLetterHeaders.originalOffset]),
    consumerGroup: text(all[DeadLetterHeaders.consumerGroup]),
    attempts: Number(text(all[DeadLetterHeaders.attempts]) || 0),
    failedAt: text(all[DeadLetterHeaders.failedAt]),
    ...(valueDropped && { valueDropped }),
  };
}

/** One line per dead letter: where, when, which group, why, and what it holds. */
export function describe(letter: DeadLetter): string {
  let event = '(value dropped: ' + (letter.valueDropped ?? '') + ')';
  if (letter.value) {
    try {
      const parsed = JSON.parse(letter.value.toString('utf8')) as { type?: unknown; eventId?: unknown };
      event = `${typeof parsed.type === 'string' ? parsed.type : '(no type)'} ${typeof parsed.eventId === 'string' ? parsed.eventId : '(no eventId)'}`;
    } catch {
      event = `(not JSON, ${letter.value.length} bytes)`;
    }
  }
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

  constructor(brokers: string[]) {
    this.kafka = new Kafka({ clientId: `dead-letters-${randomUUID().slice(0, 8)}`, brokers, logLevel: logLevel.NOTHING });
  }

  /** Every dead letter of `topic` (optionally of one consumer group), oldest first by partition and offset. */
  async list(topic: string, { group }: { group?: string } = {}): Promise<DeadLetter[]> {
    const dlq = deadLetterTopic(topic);
    const records = await this.readAll(dlq);
    const letters = records.map(({ partition, message }) => deadLetterOf(partition, message, topic));
    return group ? letters.filter((letter) => letter.consumerGroup === group) : letters;
  }

  /**
   * Publishes the original message of each dead letter (`at`: partition:offset in the DLQ) again on its original topic;
   * returns what it published, in order. Names none of `topic`'s dead letters: an Error saying which.
   */
  async replay(topic: string, at: string[] | 'all', { group }: { group?: string } = {}): Promise<DeadLetter[]> {
    const letters = await this.list(topic, { group });
    const chosen = at === 'all' ? letters : at.map((place) => letters.find((letter) => letter.at === place) ?? place);
    const unknown = chosen.filter((letter): letter is string => typeof letter === 'string');
    if (unknown.length) {
      throw new Error(`No dead letter of ${topic}${group ? ` (group ${group})` : ''} at ${unknown.join(', ')}: \`npm run dlq -- list ${topic}\` shows them.`);
    }
    const replayed = chosen as DeadLetter[];
    const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (const letter of replayed) {
        const value = letter.value ?? (await this.original(letter));
        await producer.send({ topic: letter.originalTopic, messages: [{ key: letter.key, value, headers: letter.headers }] });
      }
    } finally {
      await producer.disconnect();
    }
    return replayed;
  }

  /** The original value of a dead letter sent without it, read where the original still is. */
  private async original(letter: DeadLetter): Promise<Buffer> {
    const partition = letter.originalPartition;
    const records = await this.readAll(letter.originalTopic, { partition, from: letter.originalOffset, count: 1 });
    const found = records.find((r) => r.partition === partition && r.message.offset === letter.originalOffset);
    if (!found?.message.value) {
      throw new Error(`${letter.at}: its value was dropped (${letter.valueDropped}) and ${letter.originalTopic}[${partition}]@${letter.originalOffset} is no longer kept`);
    }
    return found.message.value;
  }

  /**
   * The records of `topic` from the start (or from `from` on one `partition`) up to its end as it is now (or `count`
   * records), with a consumer group of its own that commits nothing, deleted afterwards.
   */
  private async readAll(
    topic: string,
    only?: { partition: number; from: string; count: number },
  ): Promise<Array<{ partition: number; message: KafkaMessage }>> {
    const admin = this.kafka.admin();
    await admin.connect();
    const groupId = `dead-letters-${randomUUID()}`;
    const consumer = this.kafka.consumer({ groupId });
    try {
      const ends = new Map(
        (await admin.fetchTopicOffsets(topic))
          .filter((p) => !only || p.partition === only.partition)
          .map((p) => [p.partition, { low: BigInt(p.low), high: BigInt(p.high) }] as const),
      );
      const open = new Set([...ends].filter(([, { low, high }]) => (only ? BigInt(only.from) < high && BigInt(only.from) >= low : high > low)).map(([p]) => p));
      const records: Array<{ partition: number; message: KafkaMessage }> = [];
      if (open.size === 0) return records;
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      let done!: () => void;
      const finished = new Promise<void>((resolve) => (done = resolve));
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          if (!open.has(partition)) return;
          records.push({ partition, message });
          const last = BigInt(message.offset) + 1n >= ends.get(partition)!.high;
          if (last || (only && records.length >= only.count)) open.delete(partition);
          if (open.size === 0) done();
        },
      });
      if (only) consumer.seek({ topic, partition: only.partition, offset: only.from });
      await finished;
      return records.sort((a, b) => a.partition - b.partition || (BigInt(a.message.offset) < BigInt(b.message.offset) ? -1 : 1));
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.disconnect();
    }
  }
}

/** The brokers: KAFKA_BROKERS, or those of the platform `npm start` runs here. */
function brokers(): string[] {
  if (process.env.KAFKA_BROKERS) return process.env.KAFKA_BROKERS.split(',');
  return runningPlatform('read the dead letters (or set KAFKA_BROKERS)').kafkaBrokers;
}

const USAGE = 'Usage: npm run dlq -- list <topic> [--group <group>] | replay <topic> <partition:offset>... | replay <topic> --all [--group <group>]';

/** The command line's words as a command; an Error saying what is wrong otherwise. */
export function command(args: string[]): { command: 'list' | 'replay'; topic: string; group?: string; at: string[] | 'all' } {
  const [name, topic, ...rest] = args;
  if (name !== 'list' && name !== 'replay') throw new Error(`${USAGE} (got ${name ?? 'nothing'}).`);
  if (!topic || topic.startsWith('--')) throw new Error(`Say which topic's dead letters (e.g. eligibility.decisions.v1). ${USAGE}`);
  if (topic.endsWith('.dlq')) throw new Error(`Name the topic, not its dead-letter topic: ${topic.slice(0, -'.dlq'.length)}.`);
  let group: string | undefined;
  let all = false;
  const at: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--group' && rest[i + 1]) group = rest[++i];
    else if (rest[i] === '--all' && name === 'replay') all = true;
    else if (name === 'replay' && /^\d+:\d+$/.test(rest[i])) at.push(rest[i]);
    else throw new Error(`Not understood: ${rest[i]}. ${USAGE}`);
  }
  if (name === 'replay' && all === (at.length > 0)) throw new Error(`Say which dead letters to replay: partition:offset as \`list\` shows them, or --all. ${USAGE}`);
  return { command: name, topic, ...(group && { group }), at: all ? 'all' : at };
}

async function main(): Promise<void> {
  const { command: name, topic, group, at } = command(process.argv.slice(2));
  const letters = new DeadLetters(brokers());
  if (name === 'list') {
    const found = await letters.list(topic, { group });
    for (const letter of found) process.stdout.write(`${describe(letter)}\n`);
    process.stdout.write(`${found.length} dead letter(s) of ${topic}${group ? ` (group ${group})` : ''}\n`);
    return;
  }
  const replayed = await letters.replay(topic, at, { group });
  for (const letter of replayed) process.stdout.write(`replayed ${letter.at} on ${letter.originalTopic} (key ${letter.key ?? 'none'})\n`);
  process.stdout.write(`${replayed.length} dead letter(s) replayed\n`);
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  });
}
