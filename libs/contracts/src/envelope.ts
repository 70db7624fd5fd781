import { randomUUID } from 'node:crypto';

/** The JSON envelope every message on every topic carries (SPEC section 3). */
export interface Envelope<T = unknown> {
  eventId: string;
  type: string;
  version: number;
  occurredAt: string;
  source: string;
  partnerId?: string;
  locationId?: string;
  correlationId: string;
  causationId?: string;
  data: T;
}

export interface NewEnvelope<T> {
  type: string;
  source: string;
  data: T;
  partnerId?: string;
  locationId?: string;
  correlationId?: string;
  causationId?: string;
  /** Deterministic ids make re-emitting the same fact produce the same event. */
  eventId?: string;
  occurredAt?: Date;
  version?: number;
}

export function createEnvelope<T>(input: NewEnvelope<T>): Envelope<T> {
  const eventId = input.eventId ?? randomUUID();
  return {
    eventId,
    type: input.type,
    version: input.version ?? 1,
    occurredAt: (input.occurredAt ?? new Date()).toISOString(),
    source: input.source,
    ...(input.partnerId !== undefined && { partnerId: input.partnerId }),
    ...(input.locationId !== undefined && { locationId: input.locationId }),
    correlationId: input.correlationId ?? randomUUID(),
    ...(input.causationId !== undefined && { causationId: input.causationId }),
    data: input.data,
  };
}
