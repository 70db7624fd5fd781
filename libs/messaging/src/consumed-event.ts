import { Envelope } from '@lib/contracts';

/** What a handler receives: the validated envelope and where it came from. */
export interface ConsumedEvent<T = unknown> {
  envelope: Envelope<T>;
  topic: string;
  partition: number;
  offset: string;
  /**
   * Where the event stands in its partition's order: its offset, or for a copy an operator published again (the
   * REPLAY_OF_HEADER, of this partition, naming an earlier offset) the original's. What facts of the same instant are
   * ordered by; absent where no consumer runs the handler (then `partition` and `offset`).
   */
  position?: { partition: number; offset: string };
  key?: string;
  /**
   * Call between the pages of long work to keep the consumer in its group (also done automatically every few seconds).
   * Once the consumer is stopping (stopping()) it throws ShuttingDownError instead: the work ends at that page, its
   * message uncommitted, to be handled again after the restart or by whoever owns the partition next. So long work
   * calling it must be resumable (each page committed with its events; done items not selected again).
   */
  heartbeat(): Promise<void>;
  /**
   * True once the consumer is stopping or its group rebalancing: a handler waiting for something gives up then
   * (throws ShuttingDownError), leaving the message uncommitted, to be handled after the restart or by whoever owns the
   * partition next, rather than holding up the group. Absent where no consumer runs the handler.
   */
  stopping?(): boolean;
  /**
   * For an outside system's topic keyed by a field its messages need not carry (a validation result by its profile's
   * partnerId): the handler, once it knows that field's value, tells it; a message keyed otherwise is counted and said
   * as the consumer does for the others (kafka_messages_keyed_otherwise_total). Absent where no consumer runs the handler.
   */
  keyedBy?(expected: string): void;
}

/** Where a consumed event stands in its partition's order (ConsumedEvent.position, else where it was read). */
export function positionOf(event: Pick<ConsumedEvent, 'partition' | 'offset' | 'position'>): { partition: number; offset: string } {
  return event.position ?? { partition: event.partition, offset: event.offset };
}
