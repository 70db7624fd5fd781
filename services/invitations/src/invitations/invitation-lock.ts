import { Injectable } from '@nestjs/common';

/**
 * Runs the read-decide-write of one invitation at a time in this process. The version guard keeps instances
 * apart on MongoDB, but the local FerretDB (1.24, SQLite) does not apply a conditional update atomically:
 * concurrent `updateOne({ _id, version })` calls all report a match while only one of them survives. Handlers of
 * different topics (and HTTP) touching the same invitation therefore take turns here.
 */
@Injectable()
export class InvitationLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(invitationId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(invitationId) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(invitationId, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.tails.get(invitationId) === tail) this.tails.delete(invitationId);
    }
  }
}
