import { MalformedMessageError } from '@lib/contracts';
import { ValidationError } from 'class-validator';

/** An error that retrying cannot fix: the message goes to the dead-letter topic at once. */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
}

/**
 * A handler that cannot finish because the service is stopping (a wait cut short): retried like an outage, never
 * dead-lettered, until the consumer stops; its offset stays uncommitted and the message is handled after the restart.
 */
export class ShuttingDownError extends Error {
  override readonly name = 'ShuttingDownError';
}

/**
 * Something the handler needs is not available yet (another of the service's consumers starting or restarting): retried
 * like an outage, without limit, never dead-lettered; its offset stays uncommitted meanwhile.
 */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
}

export type FailureKind = 'permanent' | 'infrastructure' | 'transient';

const INFRASTRUCTURE =
  /^(MongoNetwork|MongoServerSelection|MongoNotConnected|MongoPoolClosed|MongoPoolCleared|MongoWaitQueueTimeout|MongoServerClosed|MongoTopologyClosed|KafkaJSConnection|KafkaJSNumberOfRetriesExceeded|KafkaJSRequestTimeout)/;

/**
 * MongoDB's answers while a replica set elects or a node stops or cannot reach another (the driver's own list for
 * retryable errors): not always labelled for retry (a multi-document update is not a retryable write, and a bulk
 * write's write-concern error keeps only its code), yet the same outage. HostUnreachable, HostNotFound,
 * NetworkTimeout, ShutdownInProgress, PrimarySteppedDown, FailedToSatisfyReadPreference, NotWritablePrimary,
 * InterruptedAtShutdown, InterruptedDueToReplStateChange, NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary,
 * SocketException, ExceededTimeLimit (a mongos that found no connection in time), ReadConcernMajorityNotAvailableYet.
 * A read's error is never labelled for retry: these two come to a read only by their code.
 */
const MONGO_OUTAGE_CODES = new Set([6, 7, 89, 91, 189, 133, 10107, 11600, 11602, 13435, 13436, 9001, 262, 134]);

/**
 * Whether the failure is a dependency being down, also when the driver wraps it: a bulk write during an outage fails
 * as MongoBulkWriteError with the network error inside (`errorResponse`, or `cause`). HTTP answers it with a 503.
 */
export function isInfrastructure(error: unknown, depth = 0, ofMongo = false): boolean {
  if (!error || typeof error !== 'object' || depth > 3) return false;
  const { name, errorResponse, cause, retriable, errorLabels, code } = error as {
    name?: unknown;
    errorResponse?: unknown;
    cause?: unknown;
    retriable?: unknown;
    errorLabels?: unknown;
    code?: unknown;
  };
  if (typeof name === 'string' && INFRASTRUCTURE.test(name)) return true;
  // A MongoDB error's code, or that of the server's answer it carries (`errorResponse`, a plain object).
  const mongo = ofMongo || (typeof name === 'string' && name.startsWith('Mongo'));
  if (mongo && typeof code === 'number' && MONGO_OUTAGE_CODES.has(code)) return true;
  // What the clients say will pass: a Kafka broker's retriable answer (a leader or coordinator moving), a MongoDB
  // error labelled for retry (a primary stepping down, a node shutting down) during an election.
  if (typeof name === 'string' && name.startsWith('KafkaJS') && retriable === true) return true;
  if (Array.isArray(errorLabels) && errorLabels.some((label) => label === 'RetryableWriteError' || label === 'ResetPool')) return true;
  return isInfrastructure(errorResponse, depth + 1, mongo) || isInfrastructure(cause, depth + 1);
}

/**
 * permanent: bad input, dead-letter now. infrastructure: a dependency is down, retry without limit (dead-lettering
 * good messages during an outage would lose them). transient: anything else, retried a bounded number of times.
 */
export function classifyFailure(error: unknown): FailureKind {
  if (error instanceof MalformedMessageError || error instanceof PermanentError || isDocumentTooLarge(error) || isUnserializable(error)) return 'permanent';
  if (Array.isArray(error) && error[0] instanceof ValidationError) return 'permanent';
  const status = (error as { status?: number; getStatus?: () => number })?.getStatus?.();
  // A 4xx is the input's fault, except one that says "try again" (the platform's RetryableProblem: busy, a lease).
  if ((error as { retryable?: unknown })?.retryable === true) return 'transient';
  if (typeof status === 'number' && status >= 400 && status < 500) return 'permanent';
  if (error instanceof ShuttingDownError || error instanceof UnavailableError || isInfrastructure(error)) return 'infrastructure';
  return 'transient';
}

/**
 * A write the database refuses for the size of the document it would make (16 MB: BSONObjectTooLarge 10334, an update's
 * result too large 17419 / 17420; the driver's own check before sending): the same again on every retry, so
 * dead-lettered at once, saying so, rather than after the retries of a failure that might pass.
 */
export function isDocumentTooLarge(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 3) return false;
  const { code, name, message, errorResponse, cause } = error as { code?: unknown; name?: unknown; message?: unknown; errorResponse?: unknown; cause?: unknown };
  const mongo = typeof name === 'string' && (name.startsWith('Mongo') || name === 'BSONError');
  if (mongo && (code === 10334 || code === 17419 || code === 17420)) return true;
  if (mongo && typeof message === 'string' && /larger than the maximum size/i.test(message)) return true;
  return isDocumentTooLarge(errorResponse && typeof errorResponse === 'object' ? { name: 'MongoServerError', ...errorResponse } : undefined, depth + 1) || isDocumentTooLarge(cause, depth + 1);
}

/**
 * The driver could not turn a document into BSON, or BSON back (a field name it refuses, a value of no BSON type): the
 * same on every retry, dead-lettered at once, saying so.
 */
export function isUnserializable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 3) return false;
  const { name, errorResponse, cause } = error as { name?: unknown; errorResponse?: unknown; cause?: unknown };
  if (typeof name === 'string' && name.startsWith('BSON')) return true;
  // The bulk API wraps what serializing its command threw (MongoBulkWriteError, the BSONError within).
  return isUnserializable(errorResponse, depth + 1) || isUnserializable(cause, depth + 1);
}

/** The server refused a write because a unique index already holds its key (MongoDB error 11000). */
export function isDuplicateKey(error: unknown): boolean {
  return (error as { code?: number })?.code === 11000;
}

/** What went wrong, for logs and the dead-letter header: an HTTP problem's status, detail and fields too. */
export function describeError(error: unknown): string {
  if (Array.isArray(error)) return error.map(String).join('; ');
  if (error instanceof Error) {
    const http = error as unknown as { getResponse?: () => unknown; getStatus?: () => number; extensions?: { errors?: unknown } };
    const problem = http.getResponse?.();
    if (problem && typeof problem === 'object') {
      // A platform problem keeps its fields among its extensions (what the HTTP answer adds to title and detail).
      const { title, detail, errors = http.extensions?.errors } = problem as { title?: string; detail?: string; errors?: Array<{ field?: string; message?: string }> };
      const fields = Array.isArray(errors) ? errors.map((e) => `${e.field}: ${e.message}`).join('; ') : '';
      const parts = [title, detail, fields].filter(Boolean);
      if (parts.length) return `${error.name} ${http.getStatus?.() ?? ''}: ${parts.join(' - ')}`;
    }
    // KafkaJS's aggregate (topic creation refused): each topic's refusal, not only "Topic creation errors".
    const parts = (error as { errors?: unknown }).errors;
    if (Array.isArray(parts) && parts.length) {
      const each = parts.slice(0, 10).map((part: { topic?: string; type?: string; message?: string }) => [part?.topic, part?.type ?? part?.message].filter(Boolean).join(': '));
      return `${error.name}: ${error.message} (${each.join('; ')}${parts.length > 10 ? '; ...' : ''})`;
    }
    return `${error.name}: ${error.message}`;
  }
  return String(error);
}

/**
 * The broker's refusal of a send as too large (MESSAGE_TOO_LARGE: a record or a partition's batch above the topic's
 * max.message.bytes; RECORD_LIST_TOO_LARGE: above the segment size), found along KafkaJS's causes: its type, or
 * undefined for any other failure.
 */
export function tooLargeForBroker(error: unknown): string | undefined {
  return kafkaErrorType(error, ['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
}

/**
 * The broker's answer that a topic (or partition) is not there (UNKNOWN_TOPIC_OR_PARTITION), found along KafkaJS's
 * causes: a consumer's crash once a topic it reads was deleted (first as its retries' error, with this as cause).
 */
export function namesMissingTopic(error: unknown): boolean {
  return kafkaErrorType(error, ['UNKNOWN_TOPIC_OR_PARTITION']) !== undefined;
}

/** The first of `types` found along a KafkaJS error's causes (`cause`, `originalError`), or undefined. */
function kafkaErrorType(error: unknown, types: string[]): string | undefined {
  for (let e = error as { type?: unknown; cause?: unknown; originalError?: unknown } | undefined, depth = 0; e && depth < 5; e = (e.cause ?? e.originalError) as typeof e, depth++) {
    if (typeof e.type === 'string' && types.includes(e.type)) return e.type;
  }
  return undefined;
}

/**
 * The broker's refusal of a record itself, which sending it again cannot change (too large: tooLargeForBroker; an
 * INVALID_RECORD), found along KafkaJS's causes: its type, or undefined. Not one of the idempotent producer's own
 * non-retriable failures (OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH), which a new
 * producer clears.
 */
export function recordRefused(error: unknown): string | undefined {
  return tooLargeForBroker(error) ?? kafkaErrorType(error, ['INVALID_RECORD']);
}

/**
 * The broker's refusal to let this client write a topic (TOPIC_AUTHORIZATION_FAILED: its ACLs), found along KafkaJS's
 * causes: lasts until an operator grants it, unlike the idempotent producer's own failures, which a new producer clears.
 */
export function writeNotAuthorized(error: unknown): boolean {
  return kafkaErrorType(error, ['TOPIC_AUTHORIZATION_FAILED']) !== undefined;
}

/**
 * A broker refusal KafkaJS does not retry (MESSAGE_TOO_LARGE, INVALID_RECORD, TOPIC_AUTHORIZATION_FAILED...): sending
 * the same record again fails the same way. Retries used up on a retriable error are not one (the broker is
 * unreachable, not refusing this record).
 */
export function isNonRetriable(error: unknown): boolean {
  let e = error as { name?: string; retriable?: boolean; cause?: unknown } | undefined;
  for (; e?.cause; e = e.cause as typeof e) {
    if (e.name === 'KafkaJSNumberOfRetriesExceeded') return false;
  }
  return e?.retriable === false && e.name !== 'KafkaJSNumberOfRetriesExceeded';
}

/**
 * The first frames of an error's stack, on one line (`at f (file:line) | at g (...)`), for a log line that would
 * otherwise name only the message (a handler's or a job's bug is found by where it failed); empty without one.
 */
export function stackFrames(error: unknown, frames = 5): string {
  if (!(error instanceof Error)) return '';
  return (error.stack ?? '')
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .slice(0, frames)
    .map((line) => line.trim())
    .join(' | ');
}
