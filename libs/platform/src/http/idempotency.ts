import { createHash } from 'node:crypto';
import {
  applyDecorators,
  CallHandler,
  createParamDecorator,
  ExecutionContext,
  HttpStatus,
  Inject,
  Injectable,
  Logger,
  NestInterceptor,
  OnModuleInit,
  Optional,
  UseInterceptors,
} from '@nestjs/common';
import { isDuplicateKey } from '@lib/messaging';
import { InjectConnection } from '@nestjs/mongoose';
import { ApiHeader } from '@nestjs/swagger';
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { Collection, Connection } from 'mongoose';
import { catchError, concatMap, finalize, from, Observable, switchMap, throwError } from 'rxjs';
import type { AuthenticatedRequest, Principal, RequestCredentials } from '../auth/principal';
import { CONFIG } from '../config/config';
import { IdLookupIndexes, indexName } from '../database/id-lookup-indexes';
import { CORRELATION_HEADER, REQUEST_ID_HEADER } from '../logging/logging';
import type { PlatformConfig } from '../platform.module';
import { fingerprintKey, FingerprintedRequest, legacyRequestHash, requestFingerprint } from './idempotency-fingerprint';
import { ifMatchTag } from './if-match';
import { PROBLEM_CONTENT_TYPE, ProblemException, Problems, RetryableProblem } from './problem';
import { ProblemFilter } from './problem.filter';

/**
 * A creating endpoint that honours `Idempotency-Key`: a retried request gets the first answer. The interceptor is
 * bound to these endpoints only, not to the whole application: as a global one it also wrapped every other route
 * and every consumed event (the application's enhancers reach its Kafka handlers) in an interceptor chain that
 * only passed through, 8% of a consuming service's CPU.
 */
export const Idempotent = () =>
  applyDecorators(
    UseInterceptors(IdempotencyInterceptor),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description: 'Up to 200 printable characters. A retry with the same key gets the first answer (Idempotent-Replayed: true); the same key with another body, 422.',
    }),
  );

/**
 * The service's check that a signed-in caller is still answered (provided as `IDEMPOTENT_REPLAY_CHECK` where the
 * `@Idempotent()` controllers are): throws what the handler would, 403 when the token's user is deactivated or not
 * (or no longer) known as a user of its partner. A stored answer is sent again without running the handler, where
 * that check is made, and a token stays valid until it expires: without it a user deactivated after the first
 * request would still get 2xx. Only that the caller is an active user is checked again, not their roles on the
 * request's location: the answer is the caller's own earlier one. Not asked for operator requests (no user); where
 * no check is provided, stored answers are replayed as they are.
 */
export type IdempotentReplayCheck = (principal: Principal) => Promise<void>;
export const IDEMPOTENT_REPLAY_CHECK = Symbol('IDEMPOTENT_REPLAY_CHECK');

interface StoredAnswer {
  _id: string;
  /**
   * HMAC-SHA256 of the request's path parameters, body (fields sorted) and If-Match (idempotency-fingerprint.ts): tells
   * a retry from another request. Absent on records stored before it: requestHmac is compared then.
   */
  requestHmacV2?: string;
  /** The same of the path parameters and the body as sent (version 1), for replicas of the version before. */
  requestHmac?: string;
  /**
   * Answers stored before fingerprints were keyed: a plain SHA-256 of the same. Still compared (a retry right after the
   * upgrade gets its answer, not a 422), never written again; such records are gone after IDEMPOTENCY_RETENTION_MS.
   */
  requestHash?: string;
  state: 'pending' | 'done';
  /** While pending: the claim holds the key until then; a retry after it takes the claim over. */
  leaseUntil?: Date;
  /** While pending: which claim holds the key, so that a takeover and the holder's own writes are guarded by it. */
  leaseToken?: string;
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  createdAt: Date;
}

const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;

/**
 * 422: the key was used with a different request (another body or path parameters). Never stored as the key's answer,
 * also when a handler answers it (a create meeting what another request made under the key): the key's own request,
 * retried, must still get what it made.
 */
export function idempotencyKeyReused(): ProblemException {
  return new KeyReused(HttpStatus.UNPROCESSABLE_ENTITY, 'idempotency-key-reused', 'Idempotency-Key reused', 'This key was used with a different request.');
}

class KeyReused extends ProblemException {}

/**
 * A request sent with an Idempotency-Key, as a creating handler sees it: the key, and the request's fingerprint (the
 * HMAC the stored answer is matched by: caller, route, key, path parameters, body, If-Match). A handler deriving the
 * id of what it creates from the key keeps the fingerprint with it, so that a retry whose stored answer is gone (a
 * crash after the write, a failure after it, the retention over) is told from another request under the same key:
 * the same request gets what it made, another one `idempotencyKeyReused`.
 */
export interface IdempotentRequest {
  key: string;
  fingerprint: string;
}

/**
 * A create under a key whose insert met what the key's derived id names (`made`, null when nothing): this request's own
 * (its fingerprint, or none kept: made before fingerprints were) is its answer; another request's is
 * `idempotencyKeyReused`. Null without `made` or a key (the duplicate is something else: the handler's own refusal).
 */
export function ownCreation<T extends { createdByRequest?: string }>(made: T | null | undefined, idempotency: IdempotentRequest | undefined): T | null {
  if (!made || !idempotency) return null;
  if (made.createdByRequest !== undefined && made.createdByRequest !== idempotency.fingerprint) throw idempotencyKeyReused();
  return made;
}

/** The request's IdempotentRequest on an @Idempotent() route; undefined without a key. */
export const IdempotencyOf = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): IdempotentRequest | undefined => ctx.switchToHttp().getRequest<{ idempotency?: IdempotentRequest }>().idempotency,
);

/**
 * Which failed answers are stored and replayed like a success (as payment APIs do: an outcome of the endpoint's own
 * logic is final): 409 (e.g. the name is taken), 410, 412 and 422 (a business rule), replayed to every retry under the
 * key even after the condition behind them changed. Every other failure releases the claim, so a retry runs again;
 * it changed nothing, so running it again is safe:
 *  - a momentary conflict (`Problems.busy`, 409 "try again"): sending the same request again is the remedy;
 *  - 403 and 404: this service's views of roles and locations follow other services' events, so a grant or a
 *    location published a moment ago may not be there yet;
 *  - 400: the request's own shape (the validation pipe runs inside the interceptor and cannot be told apart from a
 *    handler's field check); storing it would only keep a client from correcting its request under the same key;
 *  - 408, 425, 429, 5xx and errors that are not HTTP errors (database or broker down, a bug);
 *  - 401 never gets here: the guard rejects before the key is looked at.
 * The 409 "in progress" and 422 "key reused" answers of this interceptor come before the handler and are not stored.
 */
const STORED_FAILURES = new Set<number>([409, 410, 412, 422]);

function isStoredFailure(error: unknown, status: number): boolean {
  return STORED_FAILURES.has(status) && !(error instanceof RetryableProblem) && !(error instanceof KeyReused);
}

/** What a stored answer is compared with: the record's id and the request's fingerprints (both versions). */
interface RequestIdentity {
  id: string;
  fingerprint: string;
  fingerprintV1: string;
  request: FingerprintedRequest;
}

/**
 * Whether a stored answer belongs to this request (and not to another one sent under the same key), by the newest
 * fingerprint the record has.
 */
function sameRequest(stored: StoredAnswer, request: RequestIdentity): boolean {
  if (stored.requestHmacV2 !== undefined) return stored.requestHmacV2 === request.fingerprint;
  if (stored.requestHmac !== undefined) return stored.requestHmac === request.fingerprintV1;
  return stored.requestHash !== undefined && stored.requestHash === legacyRequestHash(request.request);
}

/** The answer as the client got it (JSON): a field left undefined is absent from the replay too, not null. */
function asSent(body: unknown): unknown {
  return body === undefined ? undefined : JSON.parse(JSON.stringify(body));
}

/** A claim this request holds, or the answer (or the other claim) that is already there. */
type Claim = { token: string } | { stored: StoredAnswer };

const CLAIM_ATTEMPTS = 3;

/**
 * 409 for a key whose first request has not answered yet. Retry-After: a second, as a request runs for less; one that
 * died holding the key (its answer never stored, the database gone under it) is taken over by the first retry once its
 * claim runs out, which the detail says when known.
 */
const inProgress = (leaseUntil?: Date) =>
  new ProblemException(
    HttpStatus.CONFLICT,
    'request-in-progress',
    'Request in progress',
    'A request with this Idempotency-Key is still being processed; retry shortly.' +
      (leaseUntil ? ` Should it have died without answering, a retry from ${leaseUntil.toISOString()} runs it again.` : ''),
  ).retryAfter(1);

@Injectable()
export class IdempotencyInterceptor implements NestInterceptor, OnModuleInit {
  private readonly logger = new Logger('Idempotency');
  private readonly leaseMs: number;
  /** IDEMPOTENCY_RETENTION_MS: how long an answer is replayed (0: forever). */
  private readonly retentionMs: number;
  private readonly fingerprintKey: Buffer;

  constructor(
    @InjectConnection() private readonly connection: Connection,
    @Inject(CONFIG) config: Pick<PlatformConfig, 'IDEMPOTENCY_LEASE_MS' | 'IDEMPOTENCY_RETENTION_MS' | 'IDEMPOTENCY_FINGERPRINT_KEY' | 'OPERATOR_TOKEN'>,
    @Optional() @Inject(IDEMPOTENT_REPLAY_CHECK) private readonly replayCheck?: IdempotentReplayCheck,
    @Optional() private readonly lookups?: IdLookupIndexes,
  ) {
    // Renewed while its request runs (holdClaim); short enough that a client retrying after a crash gets an answer
    // within a minute instead of 409 forever.
    this.leaseMs = config.IDEMPOTENCY_LEASE_MS;
    this.retentionMs = config.IDEMPOTENCY_RETENTION_MS;
    // The same on every replica and after a restart (the setting, or derived from OPERATOR_TOKEN): never per process.
    this.fingerprintKey = fingerprintKey(config);
  }

  private get answers(): Collection<StoredAnswer> {
    return this.connection.collection<StoredAnswer>('idempotency_keys') as unknown as Collection<StoredAnswer>;
  }

  /**
   * The guard of takeovers and of the holder's writes, `{ _id, leaseToken }`. Unique because `_id` is; MongoDB
   * uses the `_id` index anyway (IdLookupIndexes: not created there, and dropped), but mongo-java-server (the local
   * server) uses an index only when the filter's keys are exactly its keys, and would scan every stored answer on each
   * request otherwise.
   */
  async onModuleInit(): Promise<void> {
    const keys = { _id: 1, leaseToken: 1 };
    if (this.lookups && !(await this.lookups.wanted())) await this.answers.dropIndex(indexName(keys)).catch(() => undefined);
    else await this.answers.createIndex(keys, { unique: true });
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    // Bound by @Idempotent() to the endpoints that honour the header: nothing to look up here.
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const response = context.switchToHttp().getResponse<Response>();
    const key = request.headers['idempotency-key'];
    if (key === undefined) return next.handle();
    // A validation failure like any other (a bad If-Match names its header the same way): a field list.
    if (typeof key !== 'string' || !KEY_PATTERN.test(key)) throw Problems.field('Idempotency-Key', 'must be 1 to 200 visible ASCII characters');
    const caller = idempotencyCaller(request);
    const id = `${caller}|${request.method} ${request.route?.path ?? request.path}|${key}`;
    const ifMatch = request.headers['if-match'];
    const fingerprinted = { params: request.params, body: request.body ?? null, ...(ifMatch !== undefined && { ifMatch: ifMatchTag(ifMatch) }) };
    const identity: RequestIdentity = {
      id,
      fingerprint: requestFingerprint(this.fingerprintKey, id, fingerprinted),
      fingerprintV1: requestFingerprint(this.fingerprintKey, id, fingerprinted, 1),
      request: fingerprinted,
    };
    // For a creating handler whose id derives from the key (IdempotencyOf): which request it is.
    (request as Request & { idempotency?: IdempotentRequest }).idempotency = { key, fingerprint: identity.fingerprint };

    return from(this.claim(identity)).pipe(
      switchMap((claim) => {
        if ('stored' in claim) return from(this.replay(claim.stored, identity, request.principal, response));
        const held = this.holdClaim(id, claim.token);
        return next.handle().pipe(
          // Stored before the answer leaves: a retry sent once the client has it finds it.
          concatMap(async (body) => {
            const headers: Record<string, string> = traceHeaders(response);
            const etag = response.getHeader('ETag');
            const location = response.getHeader('Location');
            if (etag) headers.ETag = String(etag);
            if (location) headers.Location = String(location);
            await this.settle(id, claim.token, { status: response.statusCode, body: asSent(body), headers });
            return body;
          }),
          catchError((error) => {
            const problem = new ProblemFilter().toProblemAt(error, request);
            const settled = isStoredFailure(error, problem.status)
              ? this.settle(id, claim.token, { status: problem.status, body: problem, headers: { ...traceHeaders(response), 'Content-Type': PROBLEM_CONTENT_TYPE } })
              : this.release(id, claim.token);
            return from(settled).pipe(switchMap(() => throwError(() => error)));
          }),
          finalize(() => held.stop()),
        );
      }),
    );
  }

  /**
   * The stored answer, sent again; or why there is none to send. A caller the service no longer answers (deactivated)
   * gets its 403 first, as from any other call, whatever is stored under the key.
   */
  private async replay(stored: StoredAnswer, request: RequestIdentity, principal: Principal | undefined, response: Response): Promise<unknown> {
    if (principal && this.replayCheck) await this.replayCheck(principal);
    if (!sameRequest(stored, request)) {
      throw idempotencyKeyReused();
    }
    if (stored.state === 'pending') throw inProgress(stored.leaseUntil);
    response.status(stored.status ?? 200);
    for (const [name, value] of Object.entries(stored.headers ?? {})) response.setHeader(name, value);
    response.setHeader('Idempotent-Replayed', 'true');
    return stored.body;
  }

  /**
   * Claims the key for this request: a new key, or one whose claim was left pending past its lease (the process
   * holding it crashed, or its request never finished). The takeover is guarded by the lease token it read, so of
   * several retries only one takes it; the others read the new claim (409) or, later, its answer.
   */
  private async claim(request: RequestIdentity): Promise<Claim> {
    const { id } = request;
    const fingerprints = { requestHmacV2: request.fingerprint, requestHmac: request.fingerprintV1 };
    for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt++) {
      const now = new Date();
      const token = randomUUID();
      const lease = { state: 'pending' as const, leaseToken: token, leaseUntil: new Date(now.getTime() + this.leaseMs) };
      try {
        await this.answers.insertOne({ _id: id, ...fingerprints, createdAt: now, ...lease });
        return { token };
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      const stored = await this.answers.findOne({ _id: id });
      // Released by a failed request between the insert and the read: insert again.
      if (!stored) continue;
      // An answer past its retention, which the hourly removal has not reached yet: gone, as the README says, and this
      // request runs again (guarded by its creation time: of several retries, one removes it and the others claim).
      if (stored.state === 'done' && this.pastRetention(stored, now)) {
        await this.answers.deleteOne({ _id: id, createdAt: stored.createdAt, state: 'done' });
        continue;
      }
      if (stored.state !== 'pending' || !sameRequest(stored, request) || !this.expired(stored, now)) return { stored };
      // A claim written before leases existed has no token: guarded by its absence and by its state (a finished
      // answer has no token either: its older replica may have stored it since this read); rare, a scan where
      // unindexed. One written before fingerprints were keyed gets this one, and loses its plain hash.
      // Dated anew: its retention counts from this request, which the hourly removal leaves alone while it runs.
      const taken = await this.answers.updateOne(
        stored.leaseToken ? { _id: id, leaseToken: stored.leaseToken } : { _id: id, leaseToken: { $exists: false }, state: 'pending' },
        { $set: { ...lease, ...fingerprints, createdAt: now }, $unset: { requestHash: '' } },
      );
      if (taken.matchedCount === 1) return { token };
      // Another retry took it over first: read its claim.
    }
    throw inProgress();
  }

  private pastRetention(stored: StoredAnswer, now: Date): boolean {
    return this.retentionMs > 0 && stored.createdAt.getTime() + this.retentionMs <= now.getTime();
  }

  private expired(stored: StoredAnswer, now: Date): boolean {
    const until = stored.leaseUntil ?? new Date(stored.createdAt.getTime() + this.leaseMs);
    return until.getTime() <= now.getTime();
  }

  /**
   * Records the final answer, if this request still holds the claim (a request that outlived its lease was taken
   * over: the retry's answer stands). One write, awaited. If it fails, the request's own answer still goes out; the
   * key stays pending until its lease ends.
   */
  private async settle(id: string, token: string, answer: Pick<StoredAnswer, 'status' | 'body' | 'headers'>): Promise<void> {
    try {
      const written = await this.answers.updateOne(
        { _id: id, leaseToken: token },
        { $set: { state: 'done', ...answer }, $unset: { leaseToken: '', leaseUntil: '' } },
      );
      if (written.matchedCount === 0) this.logger.warn(`${loggedId(id)}: answered after its claim was taken over; the retry's answer is the one stored`);
    } catch (error) {
      this.logger.warn(`${loggedId(id)}: the answer could not be stored (${error}); a retry gets 409 until the lease ends, then runs again`);
    }
  }

  /**
   * Keeps the claim while its request runs: its lease is renewed every third of it (guarded by its token), so that a
   * request running longer than the lease (a large SCIM import, a slow database) is not taken over by a retry and run a
   * second time. Only a holder that stopped renewing (crashed) loses its key once the lease ends.
   */
  private holdClaim(id: string, token: string): { stop(): void } {
    const timer = setInterval(() => {
      this.answers
        .updateOne({ _id: id, leaseToken: token }, { $set: { leaseUntil: new Date(Date.now() + this.leaseMs) } })
        .then(({ matchedCount }) => matchedCount === 0 && clearInterval(timer)) // settled, released or taken over
        .catch((error) => this.logger.warn(`${loggedId(id)}: the claim's lease could not be renewed (${error}); tried again in ${Math.round(this.leaseMs / 3)} ms`));
    }, Math.max(1, Math.floor(this.leaseMs / 3)));
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  /**
   * Gives the key up after an answer that is not stored, so that a retry runs again. Not given up (the database down,
   * which is often why the request failed: its 503 says to send it again): given up in the background, every second
   * or so while the lease lasts, so that the retry its answer asked for runs once the database is back rather than
   * getting 409 until the lease ends.
   */
  private async release(id: string, token: string): Promise<void> {
    try {
      await this.answers.deleteOne({ _id: id, leaseToken: token });
    } catch (error) {
      this.logger.warn(`${loggedId(id)}: the claim could not be released (${error}); released in the background while its lease lasts`);
      this.releaseLater(id, token, Date.now() + this.leaseMs);
    }
  }

  private releaseLater(id: string, token: string, until: number, delayMs = 500): void {
    if (Date.now() >= until) return;
    const timer = setTimeout(() => {
      this.answers
        .deleteOne({ _id: id, leaseToken: token })
        .then(() => this.logger.log(`${loggedId(id)}: the claim was released`))
        .catch(() => this.releaseLater(id, token, until, Math.min(delayMs * 2, 2_000)));
    }, delayMs);
    timer.unref();
  }
}

/**
 * Whose keys a request's are: the user's, the operator's, or a scoped credential's (by its name), as the auth guard
 * verified them (`request.operator`), never from a header merely sent: a scoped credential sent with a wrong
 * X-Operator-Key beside it is that credential's caller, not the operator's.
 */
export function idempotencyCaller(request: RequestCredentials): string {
  if (request.principal?.userId) return request.principal.userId;
  if (request.operator === true) return 'operator';
  if (typeof request.operator === 'string') return `credential:${request.operator}`;
  return 'anonymous';
}

/**
 * A stored answer's id as logs show it: the caller and the route, and the key as a digest (a client may build its keys
 * from business data, an email address: not for the logs).
 */
export function loggedId(id: string): string {
  const [caller, route] = id.split('|', 2);
  const key = id.slice(caller.length + route.length + 2);
  return `${caller}|${route}|key:${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

/**
 * The ids of the request that made an answer (X-Request-Id, X-Correlation-Id), kept with it: a retry that gets it again
 * gets them too, those its events and log lines carry (the retry's own, which caused nothing, would lead nowhere).
 */
function traceHeaders(response: Response): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of [REQUEST_ID_HEADER, CORRELATION_HEADER]) {
    const value = response.getHeader(name);
    if (value !== undefined) headers[name] = String(value);
  }
  return headers;
}
