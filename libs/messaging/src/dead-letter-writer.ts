import { deadLetterTopic, DeadLetterHeaders, MalformedMessageError, REPLAY_OF_HEADER } from '@lib/contracts';
import type { Logger } from '@nestjs/common';
import type { IHeaders } from 'kafkajs';
import { describeError, recordRefused, stackFrames } from './errors';
import type { EventProducer } from './event-producer';
import type { MessagingMetrics } from './metrics';

/**
 * The largest dead-letter record tried with its value: the broker's default `max.message.bytes` (1 MiB). A smaller one
 * is sent whole (a message that fitted its own topic mostly fits the DLQ with the headers added), and only if the topic
 * refuses it is it sent without its value; a larger one could not fit a topic of the defaults (sent without it at once).
 * The value lost for nothing was every dead letter between 900,000 bytes and 1 MiB, once its topic's retention passed.
 */
const MAX_DEAD_LETTER_BYTES = 1_048_576;

/**
 * The dead letters of a consumer (KafkaEventServer): a message it could not handle (malformed, or its handler failed
 * for good) goes to `<topic>.dlq` with the reason and where it came from in headers (SPEC 3), its value kept unless the
 * dead-letter topic refuses the record for its size.
 */
export class DeadLetterWriter {
  constructor(
    private readonly producer: EventProducer,
    private readonly metrics: MessagingMetrics,
    private readonly logger: Logger,
  ) {}

  /** Writes the message to its topic's dead-letter topic, with why it failed and where it came from. */
  async write(
    origin: { topic: string; partition: number; offset: string },
    group: string,
    key: Buffer | null,
    value: Buffer | null,
    headers: IHeaders | undefined,
    error: unknown,
    attempts: number,
  ): Promise<void> {
    const reason = describeError(error);
    // Where it failed, for the logs only (the header keeps the reason): a handler's bug is found by it.
    const at = error instanceof MalformedMessageError ? '' : stackFrames(error);
    this.logger.warn(
      `dead-lettering ${origin.topic}[${origin.partition}]@${origin.offset} after ${attempts} attempt(s): ${reason}${at && ` (${at})`}`,
    );
    const topic = deadLetterTopic(origin.topic);
    const own: IHeaders = {
      [DeadLetterHeaders.error]: reason.slice(0, 4_000),
      [DeadLetterHeaders.originalTopic]: origin.topic,
      [DeadLetterHeaders.originalPartition]: String(origin.partition),
      [DeadLetterHeaders.originalOffset]: origin.offset,
      [DeadLetterHeaders.consumerGroup]: group,
      [DeadLetterHeaders.attempts]: String(attempts),
      [DeadLetterHeaders.failedAt]: new Date().toISOString(),
    };
    headers = writableHeaders(headers);
    const deadHeaders: IHeaders = { ...headers, ...own };
    const size = recordSize(key, value, deadHeaders);
    // Without its value, a dead letter still says what failed and where the original is (topic, partition, offset).
    const withoutValue = (why: string) => {
      // The original headers too, unless they are what makes it large.
      const original = headerSize(headers) > MAX_DEAD_LETTER_BYTES / 4 ? {} : headers;
      return {
        key,
        value: null,
        headers: { ...original, ...own, [DeadLetterHeaders.error]: reason.slice(0, 1_000), [DeadLetterHeaders.valueDropped]: why },
      };
    };
    const sendWithoutValue = async (why: string) => {
      try {
        await this.producer.send(topic, [withoutValue(why)]);
      } catch (sendError) {
        // Refused again (a dead-letter topic whose limit is below the original headers and key): what failed and where
        // the original is, alone. Only a refusal of that too is rethrown.
        if (!recordRefused(sendError)) throw sendError;
        this.logger.warn(`${topic} refused the dead letter without its value too (${describeError(sendError)}); sending where the original is, alone`);
        const alone = `${why}; the key and original headers dropped too (${describeError(sendError).slice(0, 200)})`;
        // The replayed copy's mark kept (a few bytes): `npm run dlq` tells a copy that failed again from its original by it.
        const replayOf = headers?.[REPLAY_OF_HEADER];
        const mark = typeof replayOf === 'string' || Buffer.isBuffer(replayOf) ? { [REPLAY_OF_HEADER]: replayOf } : {};
        await this.producer.send(topic, [{ key: null, value: null, headers: { ...mark, ...own, [DeadLetterHeaders.error]: reason.slice(0, 500), [DeadLetterHeaders.valueDropped]: alone } }]);
      }
    };
    if (size > MAX_DEAD_LETTER_BYTES) {
      await sendWithoutValue(`record of ${size} bytes exceeds ${MAX_DEAD_LETTER_BYTES}`);
    } else {
      try {
        await this.producer.send(topic, [{ key, value, headers: deadHeaders }]);
      } catch (sendError) {
        // A refusal of the record that retrying cannot fix (too large for the DLQ topic, an invalid record) would fail
        // the batch on every redelivery and stop the partition. Any other failure is rethrown, the value kept for the
        // redelivery: also the idempotent producer's own (an out-of-order sequence), which the next producer clears.
        if (!recordRefused(sendError)) throw sendError;
        this.logger.warn(`${topic} refused the dead letter (${describeError(sendError)}); sending it without its value`);
        await sendWithoutValue(describeError(sendError).slice(0, 500));
      }
    }
    this.metrics.deadLettered.inc({ topic: origin.topic });
    this.metrics.consumed.inc({
      topic: origin.topic,
      outcome: error instanceof MalformedMessageError ? 'malformed' : 'dead_lettered',
    });
  }
}

/**
 * The headers without null values: Kafka allows a header with no value (a Java producer's `RecordHeader(name, null)`),
 * KafkaJS reads it as null but cannot write one (it would throw, and the record would stop its partition).
 */
export function writableHeaders(headers: IHeaders | undefined): IHeaders {
  const kept: IHeaders = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const parts = (Array.isArray(value) ? value : [value]).filter((part) => part !== undefined && part !== null);
    if (parts.length) kept[name] = Array.isArray(value) ? parts : parts[0];
  }
  return kept;
}

function headerSize(headers: IHeaders | undefined): number {
  let size = 0;
  for (const [name, value] of Object.entries(headers ?? {})) {
    size += Buffer.byteLength(name);
    for (const part of Array.isArray(value) ? value : [value]) size += part === undefined ? 0 : Buffer.byteLength(part);
  }
  return size;
}

function recordSize(key: Buffer | null, value: Buffer | null, headers: IHeaders): number {
  return (key?.length ?? 0) + (value?.length ?? 0) + headerSize(headers);
}
