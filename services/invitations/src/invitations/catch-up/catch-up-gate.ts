import { Trace, TraceContext, UPDATES_PER_COMMAND } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { AnyBulkWriteOperation, Collection } from 'mongodb';
import type { Connection } from 'mongoose';

/**
 * An invitation whose reconcile was put off while the gate was closed; `n` counts the times, so a drain forgets only
 * what it read; `trace`: that of the last event that put it off, for the events its reconcile publishes.
 */
export interface DeferredReconcile {
  _id: string;
  n: number;
  trace?: TraceContext;
}

/**
 * Holds every invitation's reconcile back until this service has consumed the history already on its input topics
 * (FirstCatchUp opens it). On a new database, the history of four topics is read side by side, in no order between
 * them: a decision would be read before the role that gives its location an admin (the company admins asked for one
 * who exists), or before the enrollment that completed it (an invitation to what is done). Closed, the handlers still
 * write their facts to the views, and the invitations they would reconcile are written down here instead
 * (`deferred_reconciles`); once open, FirstCatchUp reconciles them on the complete views.
 *
 * Open in this process is enough to reconcile at once: whatever the other replicas put off, they reconcile themselves
 * when their gate opens (each opens, and drains, from the same stored state).
 */
@Injectable()
export class CatchUpGate {
  private opened = false;
  /** Deferrals begun while closed and not written yet: an opening drain waits for them (settle), or it could miss one. */
  private readonly writing = new Set<Promise<unknown>>();
  private readonly deferred: Collection<DeferredReconcile>;

  constructor(@InjectConnection() connection: Connection) {
    this.deferred = connection.collection<DeferredReconcile>('deferred_reconciles');
  }

  get isOpen(): boolean {
    return this.opened;
  }

  /**
   * While closed: writes these invitations down to be reconciled once open, and answers true (the caller reconciles
   * nothing). Open: false, nothing written. The check and the start of the write are one step, so a deferral is
   * either seen by open()'s wait or made after it (then open: not deferred).
   */
  async deferIfClosed(invitationIds: readonly string[]): Promise<boolean> {
    if (this.opened) return false;
    if (invitationIds.length === 0) return true;
    // The causing event's trace (SPEC 3: the events the reconcile publishes name it as their cause), without an absent field.
    const current = Trace.current();
    const trace = current && { correlationId: current.correlationId, ...(current.causationId && { causationId: current.causationId }) };
    const write = this.write(
      invitationIds.map(
        (_id): AnyBulkWriteOperation<DeferredReconcile> => ({ updateOne: { filter: { _id }, update: { $inc: { n: 1 }, ...(trace && { $set: { trace } }) }, upsert: true } }),
      ),
    );
    this.writing.add(write);
    try {
      await write;
    } finally {
      this.writing.delete(write);
    }
    return true;
  }

  /** Opens the gate, then waits for the deferrals begun before: every deferral made while closed is stored when this answers. */
  async open(): Promise<void> {
    this.opened = true;
    await Promise.allSettled([...this.writing]);
  }

  /** Up to `limit` deferred invitations after `after` (by id). */
  async deferredAfter(after: string | undefined, limit: number): Promise<DeferredReconcile[]> {
    return this.deferred
      .find(after === undefined ? {} : { _id: { $gt: after } })
      .sort({ _id: 1 })
      .limit(limit)
      .toArray();
  }

  /** Forgets these, unless deferred again since they were read (`n` moved on): those stay for the next drain. */
  async forget(entries: readonly DeferredReconcile[]): Promise<void> {
    await this.write(entries.map(({ _id, n }): AnyBulkWriteOperation<DeferredReconcile> => ({ deleteOne: { filter: { _id, n } } })));
  }

  /** UPDATES_PER_COMMAND at a time (FerretDB does not answer a command of many updates): a program's thousands of decisions put off at once. */
  private async write(operations: Array<AnyBulkWriteOperation<DeferredReconcile>>): Promise<void> {
    for (let i = 0; i < operations.length; i += UPDATES_PER_COMMAND) {
      await this.deferred.bulkWrite(operations.slice(i, i + UPDATES_PER_COMMAND), { ordered: false });
    }
  }
}
