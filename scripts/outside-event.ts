/**
 * `npm run event -- <kind> '<json>'`: publishes one event of a system outside the platform, as it would, on the
 * platform `npm start` runs (or the brokers in KAFKA_BROKERS): an eligibility decision or an agreement status. The
 * JSON is the event's data as the contract has it (libs/contracts/asyncapi.yaml), checked before it is sent:
 *
 *   npm run event -- eligibility '{"programId":"P","locationId":"L","partnerId":"C","fiscalYear":"FY27","eligible":true}'
 *   npm run event -- agreement '{"partnerId":"C","active":false}'
 *
 * (The payments back office's validation results have an HTTP way in: payout-profiles' operator API.)
 */
import { buildEvent, CATALOG, Envelope, topicConfig, Topics } from '@lib/contracts';
import { createMissingTopics } from '@lib/messaging';
import { kafkaConnectionFromEnv } from '@lib/platform';
import { TestKafka } from '@lib/testing';
import { Kafka, logLevel } from 'kafkajs';
import { brokersFor } from './running-platform';

/** What each kind is: its topic, event type and the system it stands for (its key is the topic's, from the catalog). */
export const OUTSIDE_EVENTS = {
  eligibility: { topic: Topics.eligibility, type: 'EligibilityDetermined', source: 'eligibility-system' },
  agreement: { topic: Topics.agreements, type: 'AgreementStatusChanged', source: 'agreements-system' },
} as const;

export type OutsideEventKind = keyof typeof OUTSIDE_EVENTS;

/** The event to publish, its topic and key, from the command line's two arguments; an Error saying what is wrong otherwise. */
export function outsideEvent(kind: string | undefined, json: string | undefined): { topic: string; key: string; envelope: Envelope<object> } {
  const kinds = Object.keys(OUTSIDE_EVENTS).join(' or ');
  if (!kind || !(kind in OUTSIDE_EVENTS)) throw new Error(`Say which event: ${kinds} (got ${kind ?? 'nothing'}).`);
  const { topic, type, source } = OUTSIDE_EVENTS[kind as OutsideEventKind];
  const { key } = CATALOG[topic];
  let data: unknown;
  try {
    data = JSON.parse(json ?? '');
  } catch {
    throw new Error(`The ${kind} event's data must be one JSON object in quotes, e.g. '{"partnerId":"C","active":true}' (got ${json ?? 'nothing'}).`);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new Error(`The ${kind} event's data must be a JSON object.`);
  const fields = data as Record<string, unknown>;
  // buildEvent checks the data against the contract, as the platform's own producers are checked.
  const envelope = buildEvent(topic, {
    type,
    source,
    data: fields,
    ...(typeof fields.partnerId === 'string' && { partnerId: fields.partnerId }),
    ...(typeof fields.locationId === 'string' && { locationId: fields.locationId }),
  });
  return { topic, key: String(fields[key]), envelope };
}

async function main(): Promise<void> {
  const [kind, json] = process.argv.slice(2);
  const { topic, key, envelope } = outsideEvent(kind, json);
  const brokers = brokersFor('publish the event');
  // A topic the platform has not created yet (no service started on these brokers) is created as a service would
  // create it (KAFKA_TOPIC_PARTITIONS, and the broker's clock on an outside system's records), not left to the broker's
  // auto-creation with its defaults, which the services would then find and keep.
  const admin = new Kafka({ clientId: 'outside-event', brokers, logLevel: logLevel.NOTHING, ...kafkaConnectionFromEnv() }).admin();
  await admin.connect();
  try {
    await createMissingTopics(admin, [topic], Number(process.env.KAFKA_TOPIC_PARTITIONS || 6), topicConfig);
  } finally {
    await admin.disconnect();
  }
  const kafka = new TestKafka(brokers, kafkaConnectionFromEnv());
  try {
    await kafka.publish(topic, key, envelope);
  } finally {
    await kafka.close();
  }
  process.stdout.write(`published ${envelope.type} ${envelope.eventId} on ${topic} (key ${key})\n`);
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  });
}
