import { buildEvent, CATALOG, Envelope, Topic } from '@lib/contracts';
import { Schema } from 'mongoose';
import { Trace } from './context';

/**
 * An event waiting to be published, stored inside the document whose change caused it, so that the state
 * change and its events are one atomic single-document write (no transactions needed).
 */
export interface OutboxEntry {
  eventId: string;
  topic: string;
  key: string;
  /** The serialized envelope, exactly as it will be published. */
  value: string;
  createdAt: Date;
}

export const OutboxEntrySchema = new Schema<OutboxEntry>(
  {
    eventId: { type: String, required: true },
    topic: { type: String, required: true },
    key: { type: String, required: true },
    value: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  { _id: false },
);

/** Adds the `outbox` array to a schema; the relay publishes every model that has it. */
export function outboxPlugin(schema: Schema): void {
  schema.add({ outbox: { type: [OutboxEntrySchema], default: undefined, select: false } });
}

export interface EmitInput<T extends object> {
  type: string;
  data: T;
  partnerId?: string;
  locationId?: string;
  /** Defaults to the topic's key field (partnerId, locationId or programId) read from the data or envelope. */
  key?: string;
  /** A deterministic id for facts that may be re-derived (consumers, rollover); random otherwise. */
  eventId?: string;
  occurredAt?: Date;
}

/** Builds a contract-checked envelope for `topic`, traced to the current request or event. */
export function outboxEvent<T extends object>(source: string, topic: Topic, input: EmitInput<T>): OutboxEntry {
  const trace = Trace.current();
  const envelope: Envelope<T> = buildEvent(topic, {
    type: input.type,
    source,
    data: input.data,
    partnerId: input.partnerId ?? (input.data as { partnerId?: string }).partnerId,
    locationId: input.locationId ?? (input.data as { locationId?: string }).locationId,
    correlationId: trace?.correlationId,
    causationId: trace?.causationId,
    eventId: input.eventId,
    occurredAt: input.occurredAt,
  });
  const keyField = CATALOG[topic].key;
  const key =
    input.key ??
    (input.data as Record<string, unknown>)[keyField] ??
    (envelope as unknown as Record<string, unknown>)[keyField] ??
    envelope.partnerId;
  if (typeof key !== 'string' || key.length === 0) {
    throw new Error(`Event ${input.type} on ${topic} has no ${keyField} to use as its key`);
  }
  return { eventId: envelope.eventId, topic, key, value: JSON.stringify(envelope), createdAt: new Date() };
}

/** The `$push` clause that appends events to a document's outbox in the same update as the state change. */
export function pushOutbox(entries: OutboxEntry[]): { outbox: { $each: OutboxEntry[] } } {
  return { outbox: { $each: entries } };
}
