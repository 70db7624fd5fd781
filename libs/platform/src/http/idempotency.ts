import {
  CallHandler,
  ExecutionContext,
  HttpStatus,
  Injectable,
  NestInterceptor,
  UseInterceptors,
} from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { Collection, Connection } from 'mongoose';
import { from, Observable, of, switchMap, tap, catchError, throwError } from 'rxjs';
import { ProblemException } from './problem';

/**
 * A creating endpoint that honours `Idempotency-Key`: a retried request gets the first answer. The interceptor is
 * bound to these endpoints only, not to the whole application: as a global one it also wrapped every other route
 * and every consumed event (the application's enhancers reach its Kafka handlers) in an interceptor chain that
 * only passed through, 8% of a consuming service's CPU.
 */
export const Idempotent = () => UseInterceptors(IdempotencyInterceptor);

interface StoredAnswer {
  _id: string;
  requestHash: string;
  state: 'pending' | 'done';
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  createdAt: Date;
}

const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;

@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(@InjectConnection() private readonly connection: Connection) {}

  private get answers(): Collection<StoredAnswer> {
    return this.connection.collection<StoredAnswer>('idempotency_keys') as unknown as Collection<StoredAnswer>;
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    // Bound by @Idempotent() to the endpoints that honour the header: nothing to look up here.
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<Request & { principal?: { userId: string } }>();
    const response = context.switchToHttp().getResponse<Response>();
    const key = request.headers['idempotency-key'];
    if (key === undefined) return next.handle();
    if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
      throw new ProblemException(HttpStatus.BAD_REQUEST, 'bad-idempotency-key', 'Invalid Idempotency-Key', 'Use 1 to 200 visible ASCII characters.');
    }
    const caller = request.principal?.userId ?? (request.headers['x-operator-key'] ? 'operator' : 'anonymous');
    const id = `${caller}|${request.method} ${request.route?.path ?? request.path}|${key}`;
    const requestHash = createHash('sha256')
      .update(JSON.stringify({ params: request.params, body: request.body ?? null }))
      .digest('base64url');

    return from(this.claim(id, requestHash)).pipe(
      switchMap((previous) => {
        if (previous) {
          if (previous.requestHash !== requestHash) {
            throw new ProblemException(HttpStatus.UNPROCESSABLE_ENTITY, 'idempotency-key-reused', 'Idempotency-Key reused', 'This key was used with a different request.');
          }
          if (previous.state === 'pending') {
            throw new ProblemException(HttpStatus.CONFLICT, 'request-in-progress', 'Request in progress', 'A request with this Idempotency-Key is still being processed; retry shortly.');
          }
          response.status(previous.status ?? 200);
          for (const [name, value] of Object.entries(previous.headers ?? {})) response.setHeader(name, value);
          response.setHeader('Idempotent-Replayed', 'true');
          return of(previous.body);
        }
        return next.handle().pipe(
          tap({
            next: (body) => {
              const etag = response.getHeader('ETag');
              const location = response.getHeader('Location');
              const headers: Record<string, string> = {};
              if (etag) headers.ETag = String(etag);
              if (location) headers.Location = String(location);
              void this.answers.updateOne(
                { _id: id },
                { $set: { state: 'done', status: response.statusCode, body, headers } },
              );
            },
          }),
          catchError((error) => from(this.answers.deleteOne({ _id: id })).pipe(switchMap(() => throwError(() => error)))),
        );
      }),
    );
  }

  /** Returns the stored answer, or undefined once this request has claimed the key. */
  private async claim(id: string, requestHash: string): Promise<StoredAnswer | undefined> {
    try {
      await this.answers.insertOne({ _id: id, requestHash, state: 'pending', createdAt: new Date() });
      return undefined;
    } catch (error) {
      if ((error as { code?: number }).code !== 11000) throw error;
      return (await this.answers.findOne({ _id: id })) ?? undefined;
    }
  }
}
