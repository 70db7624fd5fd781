import { storage as requestLogs } from 'nestjs-pino/storage';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { Tracing } from './tracing';

/** What ties an HTTP request or a consumed event to the events it causes and the lines it logs. */
export interface TraceContext {
  correlationId: string;
  /** The event or request that caused the work being done now. */
  causationId?: string;
}

const storage = new AsyncLocalStorage<TraceContext>();

export const Trace = {
  run<T>(context: TraceContext, fn: () => T): T {
    return storage.run(context, fn);
  },
  current(): TraceContext | undefined {
    return storage.getStore();
  },
  /**
   * The trace of work nobody asked for (a scheduled run): a new id, as the correlation of everything the run causes and
   * as their cause (SPEC 3: "the event or request that caused it"; here, the run).
   */
  fresh(): TraceContext {
    const runId = randomUUID();
    return { correlationId: runId, causationId: runId };
  },
  /**
   * Runs work nobody asked for (a scheduled job) in a trace of its own (`fresh`), and, while tracing is on, as the root
   * span `name` of an OpenTelemetry trace of its own.
   */
  job<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return storage.run(this.fresh(), () => Tracing.root(name, fn));
  },
  /**
   * Runs background work that a request or an event handler only woke up (the outbox relay's drain, the email worker's
   * claims) outside their trace: its log lines and spans belong to none of its callers, nor do they carry an HTTP
   * request's log binding (nestjs-pino's `req`). What `fn` chains on its work (`then`, `catch`) runs outside too; what
   * the caller chains on the result runs in the caller's.
   */
  detached<T>(fn: () => T): T {
    return storage.exit(() => requestLogs.exit(() => Tracing.detached(fn)));
  },
  correlationId(): string {
    return storage.getStore()?.correlationId ?? randomUUID();
  },
};
