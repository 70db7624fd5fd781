import { deadLetterTopic, DeadLetterHeaders } from '@lib/contracts';
import { IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { writableHeaders } from './dead-letter-writer';

/** One dead letter as `<topic>.dlq` holds it (headers written by DeadLetterWriter.write). */
export interface DeadLetter {
  /** The topic it was consumed from (its DLQ is `<topic>.dlq`). */
  topic: string;
  /** Where it is in the DLQ: `partition:offset`. */
  at: string;
  /** The key as text (what a listing shows); `rawKey` as it is. */
  key: string | null;
  rawKey: Buffer | null;
  value: Buffer | null;
  /** The original message's headers, without the dead letter's own (`x-dlq-*`), as text; `rawHeaders` as they are. */
  headers: Record<string, string>;
  rawHeaders: IHeaders;
  error: string;
  originalTopic: string;
  originalPartition: number;
  originalOffset: string;
  consumerGroup: string;
  attempts: number;
  failedAt: string;
  /** The type and eventId of the envelope it holds, when its value is one. */
  type?: string;
  eventId?: string;
  /** Its value is not JSON. */
  notJson?: true;
  valueDropped?: string;
}

const DLQ_HEADERS = new Set<string>(Object.values(DeadLetterHeaders));

function text(value: IHeaders[string]): string {
  const one = Array.isArray(value) ? value[0] : value;
  return one === undefined || one === null ? '' : String(one);
}

/** What the value says of its event (read once): its type and eventId when it is an envelope, `notJson` when it is not JSON. */
function envelopeOf(value: Buffer | null): Pick<DeadLetter, 'type' | 'eventId' | 'notJson'> {
  if (!value) return {};
  try {
    const parsed = JSON.parse(value.toString('utf8')) as { type?: unknown; eventId?: unknown } | null;
    return {
      ...(typeof parsed?.type === 'string' && { type: parsed.type }),
      ...(typeof parsed?.eventId === 'string' && { eventId: parsed.eventId }),
    };
  } catch {
    return { notJson: true };
  }
}

/** A DLQ record of `topic` as a DeadLetter (its `x-dlq-*` headers read, the others kept as the original's). */
export function deadLetterOf(topic: string, partition: number, message: Pick<KafkaMessage, 'offset' | 'key' | 'value' | 'headers'>): DeadLetter {
  const all = message.headers ?? {};
  const headers: Record<string, string> = {};
  // As KafkaJS can send them again: without values it read as null (writableHeaders).
  const rawHeaders = writableHeaders(Object.fromEntries(Object.entries(all).filter(([name]) => !DLQ_HEADERS.has(name))));
  for (const [name, value] of Object.entries(rawHeaders)) headers[name] = text(value);
  const valueDropped = text(all[DeadLetterHeaders.valueDropped]);
  return {
    topic,
    at: `${partition}:${message.offset}`,
    key: message.key ? message.key.toString() : null,
    rawKey: message.key ?? null,
    // A zero-length value (KafkaJS reads it as an empty buffer) is no value: an empty record, as a null one.
    value: message.value?.length ? message.value : null,
    headers,
    rawHeaders,
    error: text(all[DeadLetterHeaders.error]),
    originalTopic: text(all[DeadLetterHeaders.originalTopic]) || topic,
    originalPartition: Number(text(all[DeadLetterHeaders.originalPartition]) || -1),
    originalOffset: text(all[DeadLetterHeaders.originalOffset]),
    consumerGroup: text(all[DeadLetterHeaders.consumerGroup]),
    attempts: Number(text(all[DeadLetterHeaders.attempts]) || 0),
    failedAt: text(all[DeadLetterHeaders.failedAt]),
    ...envelopeOf(message.value?.length ? message.value : null),
    ...(valueDropped && { valueDropped }),
  };
}

/**
 * Every dead letter of these topics (their `<topic>.dlq` as they are now, from the start: what the topics' retention
 * keeps), by topic, partition and offset. A topic without a DLQ has none.
 */
export async function readDeadLetters(kafka: Kafka, topics: string[]): Promise<DeadLetter[]> {
  const byDlq = new Map(topics.map((topic) => [deadLetterTopic(topic), topic]));
  const records = await readRecords(kafka, [...byDlq.keys()]);
  return records.map(({ topic, partition, message }) => deadLetterOf(byDlq.get(topic)!, partition, message));
}

/** The record of `topic` at `partition` and `offset`, or null when the topic no longer keeps it. */
export async function readRecord(kafka: Kafka, topic: string, partition: number, offset: string): Promise<KafkaMessage | null> {
  const [found] = await readRecords(kafka, [topic], { partition, from: offset });
  return found && found.partition === partition && found.message.offset === offset ? found.message : null;
}

/** How long a read may go without a record before reaching the end it set out for (one that never comes: an error). */
const READ_TIMEOUT_MS = 30_000;

/**
 * The records of `topics` from the start up to their end as it is now (or, `only`, the one record at `from` of one
 * partition of the one topic), read with a consumer group of its own that commits nothing, deleted afterwards (KafkaJS
 * has no group-less reads). Fails when READ_TIMEOUT_MS pass without a record before it reaches it.
 */
async function readRecords(
  kafka: Kafka,
  topics: string[],
  only?: { partition: number; from: string },
): Promise<Array<{ topic: string; partition: number; message: KafkaMessage }>> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `dead-letter-reader-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId });
  const records: Array<{ topic: string; partition: number; message: KafkaMessage }> = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = topics.filter((topic) => existing.has(topic));
    /** `topic:partition` -> the offset past its last record now. */
    const ends = new Map<string, bigint>();
    for (const topic of wanted) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        if (only && p.partition !== only.partition) continue;
        const start = only ? BigInt(only.from) : BigInt(p.low);
        if (start >= BigInt(p.low) && start < BigInt(p.high)) ends.set(`${topic}:${p.partition}`, only ? start + 1n : BigInt(p.high));
      }
    }
    if (ends.size === 0) return records;
    await consumer.connect();
    await consumer.subscribe({ topics: wanted, fromBeginning: true });
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    // The deadline counts from the group's start, then from the last record read (a large DLQ takes longer than any
    // fixed time to read whole). Rejected before the race below is set (its consumer failing to start): handled there.
    let fail!: (error: Error) => void;
    const timeout = new Promise<never>((_, reject) => (fail = reject));
    timeout.catch(() => undefined);
    const progressed = () => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(new Error(`reading ${wanted.join(', ')} did not reach its end (no record for ${READ_TIMEOUT_MS} ms)`)), READ_TIMEOUT_MS);
    };
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const place = `${topic}:${partition}`;
        const end = ends.get(place);
        if (end === undefined || BigInt(message.offset) >= end) return;
        records.push({ topic, partition, message });
        progressed();
        if (BigInt(message.offset) + 1n >= end) ends.delete(place);
        if (ends.size === 0) done();
      },
    });
    if (only) consumer.seek({ topic: wanted[0], partition: only.partition, offset: only.from });
    progressed();
    await Promise.race([finished, timeout]);
    return records.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition || (BigInt(a.message.offset) < BigInt(b.message.offset) ? -1 : 1)));
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}
