import { BeforeApplicationShutdown, HttpStatus, Injectable } from '@nestjs/common';
import { ProblemException } from '../http/problem';

/**
 * Long work that is neither a request nor a consumed message: batch jobs (the rollover, renewal reminders, the tax
 * expiry scan), run by a schedule or an operator's request. At shutdown such a job is asked to stop at its next batch
 * boundary, and waited for, before the HTTP server and the consumer close (the consumer flushes the outbox last)
 * and before the database connection closes. The jobs are resumable, so stopping between batches loses nothing: the
 * next run picks up where this one stopped, and every change it made is committed with its events.
 *
 * Nest's order on close: onModuleDestroy, then beforeApplicationShutdown (here), then the servers close, then
 * onApplicationShutdown (the database connection).
 */
@Injectable()
export class BackgroundWork implements BeforeApplicationShutdown {
  private stopping = false;
  private readonly running = new Set<Promise<unknown>>();

  /** True once shutdown began: a job checks it between batches and stops there. */
  get stopRequested(): boolean {
    return this.stopping;
  }

  /** Runs `job` as tracked work. Once shutdown began, nothing new starts (503). */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.stopping) {
      throw new ProblemException(HttpStatus.SERVICE_UNAVAILABLE, 'shutting-down', 'Service unavailable', 'The service is shutting down; retry.');
    }
    const work = job();
    this.running.add(work);
    try {
      return await work;
    } finally {
      this.running.delete(work);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.running]);
  }
}
