import { Envelope } from '@lib/contracts';

/** What a handler receives: the validated envelope and where it came from. */
export interface ConsumedEvent<T = unknown> {
  envelope: Envelope<T>;
  topic: string;
  partition: number;
  offset: string;
  key?: string;
  /** Call during long work to keep the consumer in its group (also done automatically every few seconds). */
  heartbeat(): Promise<void>;
}
