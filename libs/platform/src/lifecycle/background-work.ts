import { BeforeApplicationShutdown, HttpStatus, Injectable } from '@nestjs/common';
import { counterMetric, gaugeMetric } from '@lib/messaging';
import { ProblemException } from '../http/problem';

/**
 * How a job's run ended, on /metrics: `completed`; `incomplete` (it stopped with work left, for a rerun: shutdown, a
 * limit, changes that raced it); `busy` (409: another instance runs it); `deferred` (503: this one has not caught up
 * with its events, or could not tell); `refused` (another 4xx of an operator's request); `failed` (an error).
 */
export type JobOutcome = 'completed' | 'incomplete' | 'busy' | 'deferred' | 'refused' | 'failed';

const runs = counterMetric({ name: 'background_job_runs_total', help: 'Runs of batch jobs (rollover, reminders, scans) by how they ended', labelNames: ['job_name', 'outcome'] });
const lastCompleted = gaugeMetric({
  name: 'background_job_last_completed_timestamp_seconds',
  help: 'When a batch job last ran to its end in this process (Unix time)',
  labelNames: ['job_name'],
});

/**
 * Long work that is neither a request nor a consumed message: batch jobs (the rollover, renewal reminders, the tax
 * expiry scan), run by a schedule or an operator's request. At shutdown such a job is asked to stop at its next batch
 * boundary, and waited for, before the HTTP server and the consumer close (the consumer flushes the outbox last)
 * and before the database connection closes. The jobs are resumable, so stopping between batches loses nothing: the
 * next run picks up where this one stopped, and every change it made is committed with its events.
 *
 * closeService asks the jobs to stop first (requestStop), with the consumers; then Nest's order on close:
 * onModuleDestroy, then beforeApplicationShutdown (here: the wait), then the servers close, then onApplicationShutdown
 * (the database connection).
 */
@Injectable()
export class BackgroundWork implements BeforeApplicationShutdown {
  private stopping = false;
  private stoppingSince?: number;
  private readonly running = new Set<Promise<unknown>>();

  /** True once shutdown began: a job checks it between batches and stops there. */
  get stopRequested(): boolean {
    return this.stopping;
  }

  /** When shutdown began (Date.now()), for waits bounded by the platform's SHUTDOWN_TIMEOUT_MS; undefined before. */
  get stopRequestedAt(): number | undefined {
    return this.stoppingSince;
  }

  /**
   * Runs `job` as tracked work, counted on /metrics under `name` (JobOutcome; `complete` tells from its result whether
   * it ran to its end). Once shutdown began, nothing new starts (503).
   */
  async run<T>(name: string, job: () => Promise<T>, { complete }: { complete?: (result: T) => boolean } = {}): Promise<T> {
    if (this.stopping) {
      // Retry-After, as documented: another replica takes the retry.
      throw new ProblemException(HttpStatus.SERVICE_UNAVAILABLE, 'shutting-down', 'Service unavailable', 'The service is shutting down; retry.').retryAfter(1);
    }
    const work = job();
    this.running.add(work);
    try {
      const result = await work;
      const outcome: JobOutcome = complete && !complete(result) ? 'incomplete' : 'completed';
      runs.inc({ job_name: name, outcome });
      if (outcome === 'completed') lastCompleted.set({ job_name: name }, Date.now() / 1_000);
      return result;
    } catch (error) {
      runs.inc({ job_name: name, outcome: outcomeOf(error) });
      throw error;
    } finally {
      this.running.delete(work);
    }
  }

  /** Shutdown begins: running jobs stop at their next batch boundary, and nothing new starts (closeService, first). */
  requestStop(): void {
    if (!this.stopping) this.stoppingSince = Date.now();
    this.stopping = true;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.requestStop();
    await Promise.allSettled([...this.running]);
  }
}

/** How a run that threw ended: a problem answer that says it did not run (JobOutcome), or a failure. */
function outcomeOf(error: unknown): JobOutcome {
  if (!(error instanceof ProblemException)) return 'failed';
  const status = error.getStatus();
  // Another run holds it (a lease, Problems.busy); another 409 refuses the request (a year over, a key mismatch).
  if (status === HttpStatus.CONFLICT && error.problemType === 'busy') return 'busy';
  if (status === HttpStatus.SERVICE_UNAVAILABLE) return 'deferred';
  return status < 500 ? 'refused' : 'failed';
}
