import { getMetadataStorage, IS_IN, ValidationTypes } from 'class-validator';
import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
import { dump } from 'js-yaml';
import { CATALOG, TopicContract } from './catalog';
import { PRODUCING } from './events/common';
import { REASONS_FOR_ACTION_REQUIRED } from './events/external.events';
import { IS_ISO_INSTANT } from './instant';
import { DeadLetterHeaders, deadLetterTopic } from './topics';

/**
 * Where `@Type(() => X)` is recorded. An array property's design type is only `Array`, so without this the
 * generator cannot name the element class and refers to a schema `Array` that does not exist. class-transformer
 * does not export its storage from the package root (typestack/class-transformer#563), hence the deep require.
 */
const { defaultMetadataStorage } = require('class-transformer/cjs/storage') as typeof import('class-transformer/types/storage');

/** An instant as isIsoInstant reads it: an RFC 3339 date-time (with its offset), or a date (midnight UTC). */
const ISO_INSTANT = { oneOf: [{ format: 'date', type: 'string' as const }, { format: 'date-time', type: 'string' as const }] };

const ENVELOPE_SCHEMA = {
  type: 'object',
  required: ['eventId', 'type', 'version', 'occurredAt', 'source', 'correlationId', 'data'],
  properties: {
    eventId: { type: 'string', format: 'uuid', description: 'Unique per event; consumers deduplicate on it (in either case). The nil and max UUIDs are refused (dead-lettered).' },
    type: { type: 'string' },
    version: {
      type: 'integer',
      minimum: 1,
      description:
        "The event's version (1). Any whole number from 1 is accepted and read as this contract: a change an older reader would misread is a new topic version, not a new value here.",
    },
    occurredAt: {
      ...ISO_INSTANT,
      description:
        'When it happened: a date and time with its offset (Z or ±hh:mm), or a date (its midnight UTC). An outside ' +
        "system's event dated more than an hour ahead of when it was written to Kafka is refused (dead-lettered): a " +
        'decision is published when it is taken, not ahead of the date it takes effect. A date alone is its midnight ' +
        'UTC: a publisher east of UTC sends its own today as a date and time with its offset.',
    },
    source: { type: 'string', description: 'The service or outside system that wrote it.' },
    partnerId: { type: 'string', description: "When present, the data's partnerId (where it names one): an envelope contradicting its data is refused (dead-lettered)." },
    locationId: { type: 'string', description: "When present, the data's locationId (where it names one), exactly: a contradiction is refused (dead-lettered)." },
    correlationId: { type: 'string' },
    causationId: { type: 'string', description: 'The event or request that caused this one.' },
    data: { type: 'object' },
  },
  additionalProperties: true,
};

/** The topic's key, then the event types keyed otherwise: `locationId; ProfileCreated, ProfileUpdated: ...`. */
function channelKey(contract: TopicContract): string {
  const byKey = new Map<string, string[]>();
  for (const [type, key] of Object.entries(contract.keyExceptions ?? {})) byKey.set(key, [...(byKey.get(key) ?? []), type]);
  const exceptions = [...byKey].map(([key, types]) => `${types.join(', ')}: ${key}`);
  return [contract.key, ...exceptions].join('; ');
}

/** The optional Kafka headers of every message: the W3C trace context (README, Tracing). */
const TRACE_HEADERS = {
  traceparent: {
    type: 'string',
    description:
      'W3C trace context of the work that wrote the event, while the producing service traces (OpenTelemetry). ' +
      'A consumer that traces handles the message in a span of that trace; an outside system may send one to have the ' +
      "platform's handling of its event continue its trace.",
    example: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  },
  tracestate: { type: 'string', description: 'W3C trace state that goes with traceparent, when there is one.' },
};

/**
 * The AsyncAPI document of every topic, derived from the payload classes themselves, so the published contract
 * cannot drift from what the code validates. `npm run asyncapi` writes it; a test checks the committed copy.
 */
export function buildAsyncApi(): Record<string, unknown> {
  const schemas = validationMetadatasToSchemas({
    classValidatorMetadataStorage: getMetadataStorage(),
    classTransformerMetadataStorage: defaultMetadataStorage,
    refPointerPrefix: '#/components/schemas/',
    // @IsDefined (on required nested objects and arrays) is what `required` already says, and the @IsObject /
    // @IsArray beside it gives the type, which excludes null: the default `not: { type: 'null' }` adds nothing.
    // A rule across fields (reasons when the outcome is ACTION_REQUIRED) has no schema of its own: its @JSONSchema
    // description says it. An instant (@IsIsoInstant) is what isIsoInstant accepts.
    // The values a producer checks alone (PRODUCING: a list a later producer may add to) are this version's, not all a
    // consumer must take: listed as `x-known-values`, not as an `enum` a generated validator would hold readers to.
    additionalConverters: {
      [ValidationTypes.IS_DEFINED]: {},
      [REASONS_FOR_ACTION_REQUIRED]: {},
      [IS_ISO_INSTANT]: ISO_INSTANT,
      [IS_IN]: (meta) => (meta.groups?.includes(PRODUCING) ? { 'x-known-values': meta.constraints[0] } : { type: 'string', enum: meta.constraints[0] }),
    },
  });
  const channels: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  /** A class that only renames its parent (ProfileCreated extends ProfileEvent) is described by that parent. */
  const schemaName = (cls: Function): string => {
    for (let c: Function | null = cls; c && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
      if (schemas[c.name]) return c.name;
    }
    throw new Error(`No schema for ${cls.name}`);
  };
  for (const contract of Object.values(CATALOG)) {
    const refs = Object.entries(contract.types).map(([type, cls]) => {
      const name = `${contract.topic}/${type}`;
      messages[name] = {
        name: type,
        title: type,
        contentType: 'application/json',
        headers: { type: 'object', description: 'Kafka key: ' + (contract.keyExceptions?.[type] ?? contract.key), properties: TRACE_HEADERS },
        payload: {
          allOf: [
            { $ref: '#/components/schemas/Envelope' },
            {
              type: 'object',
              properties: { type: { const: type }, data: { $ref: `#/components/schemas/${schemaName(cls)}` } },
            },
          ],
        },
      };
      return { $ref: `#/components/messages/${name.replace(/\//g, '~1')}` };
    });
    const external = contract.producer.startsWith('external');
    channels[contract.topic] = {
      description: `${contract.description} Key: ${channelKey(contract)}. Written by ${contract.producer}.`,
      [external ? 'publish' : 'subscribe']: { message: { oneOf: refs } },
    };
    if (contract.deadLetters === false) continue;
    channels[deadLetterTopic(contract.topic)] = {
      description:
        `Messages of ${contract.topic} a consumer could not process, as they were (each consumer group dead-letters its ` +
        `own copy, named in ${DeadLetterHeaders.consumerGroup}), with headers ` +
        Object.values(DeadLetterHeaders).filter((h) => h !== DeadLetterHeaders.valueDropped).join(', ') +
        ` (${DeadLetterHeaders.error}: at most 4,000 characters), and ${DeadLetterHeaders.valueDropped} (why) on one sent ` +
        `without its value (too large for this topic; ${DeadLetterHeaders.error} then at most 1,000 characters).`,
      subscribe: { message: { name: 'DeadLetter', payload: { description: `The original message value, unchanged (none when it was too large for this topic: ${DeadLetterHeaders.valueDropped} says so).` } } },
    };
  }
  const componentSchemas: Record<string, unknown> = { Envelope: ENVELOPE_SCHEMA };
  for (const name of Object.keys(schemas).sort()) componentSchemas[name] = schemas[name];
  return {
    asyncapi: '2.6.0',
    info: {
      title: 'Incentives enrollment platform events',
      version: '1.0.0',
      description:
        'Every message value is the JSON envelope; the key is the locationId (or partnerId / programId) so that ' +
        'events of one location stay in order. Consumers accept unknown fields and unknown types (an unknown type is ' +
        'skipped whatever its data holds). Of a known type, an object of more than 200 fields or nested more than 32 ' +
        'levels deep, or a field name no database stores (a NUL, _bsontype, a leading $ or a dot), is dead-lettered. A breaking ' +
        "change is a new topic version. An outside system must key its messages so: a message keyed otherwise is applied " +
        '(and counted, kafka_messages_keyed_otherwise_total), but two events of one location with the same occurredAt on ' +
        'different partitions are applied in the order they arrive, which may not be the order they were sent. One ' +
        'event per message (data is an object, never an array). Roles, delivery channels and payment methods may gain ' +
        'values: a consumer reads one it does not know as no role, no channel asked of it, a method no program allows; ' +
        "a new state (an enrollment's, a program's, a profile's) or outcome is a breaking change.",
    },
    defaultContentType: 'application/json',
    channels,
    components: { messages, schemas: componentSchemas },
  };
}

export function renderAsyncApi(): string {
  return dump(buildAsyncApi(), { noRefs: true, lineWidth: 120, sortKeys: false });
}
