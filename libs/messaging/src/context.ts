import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

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
  correlationId(): string {
    return storage.getStore()?.correlationId ?? randomUUID();
  },
};
