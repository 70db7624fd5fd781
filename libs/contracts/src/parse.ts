import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { payloadClass } from './catalog';
import { EXTERNAL_TOPICS } from './topics';
import { isUuid } from './ids';
import { isIsoInstant } from './instant';
import { createEnvelope, Envelope, NewEnvelope } from './envelope';

/** A message that can never be processed: it goes to the dead-letter topic at once, without retries. */
export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
}

export function describeValidationErrors(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((error) => {
    const path = prefix ? `${prefix}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => `${path}: ${message}`);
    return [...own, ...describeValidationErrors(error.children ?? [], path)];
  });
}

const REQUIRED_ENVELOPE_FIELDS: Array<[keyof Envelope, string]> = [
  ['eventId', 'string'],
  ['type', 'string'],
  ['version', 'number'],
  ['occurredAt', 'string'],
  ['source', 'string'],
  ['correlationId', 'string'],
  ['data', 'object'],
];

/**
 * How far ahead of when it was written to Kafka (its record's timestamp) an outside system's `occurredAt` may be. Views
 * keep the newer fact by it: one event dated in the future (a typo, a clock set a year ahead) would stay the newer one
 * and have every correct fact after it ignored, silently, so it is dead-lettered. An hour covers any clock that is
 * merely off. Judged against the record (bounded by the consumer's clock: a producer's clock set ahead does not vouch
 * for its own dates), not the consumer's clock alone: a replay (a new consumer group) judges every message as the first
 * reading did (a refusal is not recorded anywhere), and a consumer far behind as one up to date.
 */
export const EXTERNAL_CLOCK_SKEW_MS = 3_600_000;


export interface ParsedEvent<T = unknown> {
  envelope: Envelope<T>;
  /** False for an event type this version of the contracts does not know: consumers skip it. */
  known: boolean;
}

/** The validation group of a consumer's checks; none is in it, so reading runs every check of no group (not PRODUCING's). */
const CONSUMING = 'consuming';

/** RFC 9562's nil and max UUIDs. */
const PLACEHOLDER_UUID = /^(0{8}-0{4}-0{4}-0{4}-0{12}|f{8}-f{4}-f{4}-f{4}-f{12})$/i;

/**
 * Parses and validates one message value. Unknown fields are accepted and kept (forward compatibility);
 * unknown types are returned with `known: false`; anything else that is wrong throws MalformedMessageError. `writtenAt`:
 * when the message was written to Kafka, its record's timestamp (an outside system's event dated ahead of it is refused,
 * EXTERNAL_CLOCK_SKEW_MS); the reader's clock where there is none.
 */
export function parseEvent<T = unknown>(topic: string, value: Buffer | string | null, writtenAt = Date.now()): ParsedEvent<T> {
  if (value === null || value.length === 0) throw new MalformedMessageError('empty message value');
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString());
  } catch (error) {
    // Not the parser's message: it quotes part of the value, which may hold a secret (a reason quoting an IBAN), and
    // this text goes to logs, traces and the dead letter's header.
    const position = /at position (\d+)/.exec((error as Error).message)?.[1];
    throw new MalformedMessageError(`value is not JSON${position === undefined ? '' : ` (at position ${position})`}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new MalformedMessageError('value is not a JSON object envelope');
  }
  const envelope = raw as Record<string, unknown>;
  const problems = REQUIRED_ENVELOPE_FIELDS.filter(
    ([field, kind]) => typeof envelope[field] !== kind || envelope[field] === null,
  ).map(([field, kind]) => `${field}: must be a ${kind}`);
  // Consumers order facts by it (newer wins): an unreadable time would be stored as 1970 or compare as NaN.
  if (typeof envelope.version === 'number' && !(Number.isInteger(envelope.version) && envelope.version >= 1)) problems.push('version: must be a whole number from 1');
  if (typeof envelope.occurredAt === 'string' && !isIsoInstant(envelope.occurredAt)) problems.push('occurredAt: must be an ISO-8601 date and time with its offset (Z or ±hh:mm)');
  else if (typeof envelope.occurredAt === 'string' && EXTERNAL_TOPICS.includes(topic as never) && Date.parse(envelope.occurredAt) > writtenAt + EXTERNAL_CLOCK_SKEW_MS) {
    // A date alone is its midnight UTC, as every consumer orders it: a publisher east of UTC stamping its own today is
    // ahead of that until UTC's day begins. Read as its publisher's day, it would be stored hours ahead of when it
    // happened, and shadow that publisher's later events stamped with a time: refused, saying what to send instead.
    const dateOnly = !/[Tt]/.test(envelope.occurredAt);
    problems.push(
      `occurredAt: must not be more than ${EXTERNAL_CLOCK_SKEW_MS / 60_000} minutes ahead of when the message was written (${new Date(writtenAt).toISOString()})` +
        (dateOnly ? '; a date alone is read as its midnight UTC: send the date and time with its offset' : ''),
    );
  }
  // Consumers skip an event whose id they have applied (the processed-event ledger): an empty or made-up id (a
  // publisher's own counter) would have a later, different event skipped as a duplicate, silently. Dead-lettered.
  // The nil and max UUIDs too: a publisher's placeholder (.NET's Guid.Empty), the same on every event it sends.
  if (typeof envelope.eventId === 'string' && (!isUuid(envelope.eventId) || PLACEHOLDER_UUID.test(envelope.eventId))) {
    problems.push('eventId: must be a UUID of its own (not the nil or max UUID)');
  }
  // Skipped whole when its type is unknown (and its envelope readable): nothing of it is turned into a payload or
  // stored, so what follows, about what a consumer walks and stores, does not apply (a new type may carry a map keyed
  // by dotted names, or larger than any this release reads).
  const cls = typeof envelope.type === 'string' ? payloadClass(topic, envelope.type) : undefined;
  if (cls) {
    // An array is an object to typeof; read as a payload, its validation errors name no field.
    if (Array.isArray(envelope.data)) problems.push('data: must be a JSON object (one event per message), not an array');
    else {
      const shape = dataShapeProblem(envelope.data);
      if (shape) problems.push(shape);
    }
    // The envelope's own fields a later producer may add, kept as the data's are (a consumer may store the envelope whole).
    for (const [field, value] of Object.entries(envelope)) {
      const name = unstorableName(field);
      if (name) problems.push(`${field}: ${name}`);
      else if (field !== 'data' && value !== null && typeof value === 'object') {
        const shape = dataShapeProblem(value, field);
        if (shape) problems.push(shape);
      }
    }
  }
  if (problems.length) throw new MalformedMessageError(`invalid envelope: ${problems.join('; ')}`);
  if (!cls) return { envelope: envelope as unknown as Envelope<T>, known: false };
  const data = plainToInstance(cls, envelope.data, { exposeDefaultValues: true });
  // Every check but a producer's own (PRODUCING: a value a later producer may add is taken as named). A group given,
  // class-validator runs only that group's checks, and, with `always`, every check of no group.
  const errors = validateSync(data, { forbidUnknownValues: true, whitelist: false, groups: [CONSUMING], always: true });
  if (errors.length) {
    throw new MalformedMessageError(
      `invalid ${envelope.type} payload: ${describeValidationErrors(errors).join('; ')}`,
    );
  }
  const contradictions = contradictedIds(envelope, data as object);
  if (contradictions.length) throw new MalformedMessageError(`envelope contradicts its data: ${contradictions.join('; ')}`);
  return { envelope: { ...(envelope as unknown as Envelope<T>), data: data as T }, known: true };
}

/**
 * The envelope's `partnerId`/`locationId` where its data names another. One of the two is wrong and nothing says which:
 * applied, the views would keep the data's partner while whoever reads the envelope (a consumer routing on it, someone
 * tracing a partner's events) sees another. Either may be absent (the envelope's are optional; an agreement's data
 * names no location).
 */
function contradictedIds(envelope: Record<string, unknown>, data: object): string[] {
  return (['partnerId', 'locationId'] as const).flatMap((field) => {
    const outer = envelope[field];
    const inner = (data as Record<string, unknown>)[field];
    // Empty, as some serializers write an unset field, names nothing (as the key check reads it).
    return typeof outer === 'string' && outer !== '' && typeof inner === 'string' && outer !== inner
      ? [`${field}: the envelope names ${JSON.stringify(outer)}, its data ${JSON.stringify(inner)}`]
      : [];
  });
}

/**
 * Builds an envelope and checks its payload against the catalog, with every check (also PRODUCING's: a value this
 * version does not know is refused here), so a service can never publish a bad event: nor one
 * carrying a field its contract does not declare (a secret a producer's object happened to hold would go out with it).
 */
export function buildEvent<T extends object>(topic: string, input: NewEnvelope<T>): Envelope<T> {
  const cls = payloadClass(topic, input.type);
  if (!cls) throw new Error(`Event type ${input.type} is not in the contract of ${topic}`);
  const errors = validateSync(plainToInstance(cls, input.data, { exposeDefaultValues: true }), {
    forbidUnknownValues: true,
    whitelist: true,
    forbidNonWhitelisted: true,
  });
  if (errors.length) {
    throw new Error(`Event ${input.type} breaks its contract: ${describeValidationErrors(errors).join('; ')}`);
  }
  const contradictions = contradictedIds(input as unknown as Record<string, unknown>, input.data);
  if (contradictions.length) throw new Error(`Event ${input.type}'s envelope contradicts its data: ${contradictions.join('; ')}`);
  return createEnvelope(input);
}

/**
 * Why a field's name cannot be stored as it is by every database the services run on, or none: a NUL (BSON ends a
 * name with it), `_bsontype` (the driver takes the object for a BSON value of that type, and refuses it), a leading `$`
 * or a `.` (operators and paths to MongoDB's updates; mongo-java-server and FerretDB refuse them in documents). No
 * contract field is named so: a consumer storing what it received (a view, a record of the event) would fail on each
 * redelivery, and take the writes batched with its own down with it.
 */
function unstorableName(key: string): string | undefined {
  if (key.includes('\u0000')) return 'a field name must not contain a NUL character';
  if (key === '_bsontype') return 'a field must not be named _bsontype';
  if (key.startsWith('$') || key.includes('.')) return 'a field name must not start with "$" nor contain "."';
  return undefined;
}

/** More fields than any event's object has (a few dozen at most), and deeper than any is nested (3). */
export const MAX_DATA_OBJECT_KEYS = 200;
export const MAX_DATA_DEPTH = 32;

/**
 * What is wrong with the shape of an event's `data`, before anything walks it: turning an object into its payload class
 * costs time quadratic in its keys (class-transformer), seconds for the 90,000 fields a megabyte holds, with the event
 * loop, the consumer's heartbeat and every request of the service stopped meanwhile, on each redelivery; and a deep
 * nesting overflows the stack of what recurses through it. Unknown fields are kept (an event may carry more than this
 * release reads), so the bound is on any object's size, as for HTTP bodies. Walked with a stack of its own.
 */
function dataShapeProblem(data: unknown, at = 'data'): string | undefined {
  if (data === null || typeof data !== 'object') return undefined;
  const stack: Array<{ value: object; depth: number; path: string }> = [{ value: data, depth: 1, path: at }];
  while (stack.length) {
    const { value, depth, path } = stack.pop()!;
    if (depth > MAX_DATA_DEPTH) return `${path}: nested more than ${MAX_DATA_DEPTH} levels deep`;
    const keys = Object.keys(value);
    if (!Array.isArray(value) && keys.length > MAX_DATA_OBJECT_KEYS) return `${path}: must have at most ${MAX_DATA_OBJECT_KEYS} fields (it has ${keys.length})`;
    for (const key of keys) {
      const name = unstorableName(key);
      if (name) return `${path}.${key}: ${name}`;
      const child = (value as Record<string, unknown>)[key];
      if (child !== null && typeof child === 'object') stack.push({ value: child, depth: depth + 1, path: `${path}.${key}` });
    }
  }
  return undefined;
}
