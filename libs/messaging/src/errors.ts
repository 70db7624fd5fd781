import { MalformedMessageError } from '@lib/contracts';
import { ValidationError } from 'class-validator';

/** An error that retrying cannot fix: the message goes to the dead-letter topic at once. */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
}

export type FailureKind = 'permanent' | 'infrastructure' | 'transient';

const INFRASTRUCTURE = /^(MongoNetwork|MongoServerSelection|MongoNotConnected|MongoPoolClosed|MongoTopologyClosed|KafkaJSConnection|KafkaJSNumberOfRetriesExceeded|KafkaJSRequestTimeout)/;

/**
 * permanent: bad input, dead-letter now. infrastructure: a dependency is down, retry without limit (dead-lettering
 * good messages during an outage would lose them). transient: anything else, retried a bounded number of times.
 */
export function classifyFailure(error: unknown): FailureKind {
  if (error instanceof MalformedMessageError || error instanceof PermanentError) return 'permanent';
  if (Array.isArray(error) && error[0] instanceof ValidationError) return 'permanent';
  const status = (error as { status?: number; getStatus?: () => number })?.getStatus?.();
  if (typeof status === 'number' && status >= 400 && status < 500) return 'permanent';
  const name = (error as Error)?.name ?? '';
  if (INFRASTRUCTURE.test(name)) return 'infrastructure';
  return 'transient';
}

/** The server refused a write because a unique index already holds its key (MongoDB error 11000). */
export function isDuplicateKey(error: unknown): boolean {
  return (error as { code?: number })?.code === 11000;
}

export function describeError(error: unknown): string {
  if (Array.isArray(error)) return error.map(String).join('; ');
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
