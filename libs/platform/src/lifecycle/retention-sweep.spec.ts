import { Logger } from '@nestjs/common';
import { RetentionSweep } from './retention-sweep';

/** A sweep whose delete is held until the test lets it go (a pure unit test: no database). */
class HeldSweep extends RetentionSweep {
  release!: () => void;
  readonly deletes: string[] = [];

  constructor() {
    const collection = {
      createIndex: async () => 'ok',
      deleteMany: () =>
        new Promise<{ deletedCount: number }>((resolve) => {
          this.release = () => {
            this.deletes.push('done');
            resolve({ deletedCount: 0 });
          };
        }),
    };
    super({ job: 'held-retention', logger: new Logger('test'), collection: () => collection as never, field: 'at', retentionMs: 1_000, what: 'documents' });
  }
}

describe('RetentionSweep at shutdown', () => {
  it('waits for the delete going on before the module is destroyed (the database closes after it)', async () => {
    const sweep = new HeldSweep();
    sweep.onModuleInit(); // the first pass runs at start
    await new Promise((resolve) => setImmediate(resolve));
    let destroyed = false;
    const destroying = sweep.onModuleDestroy().then(() => {
      destroyed = true;
      sweep.deletes.push('destroyed');
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(destroyed).toBe(false);
    const released = Date.now();
    sweep.release();
    await destroying;
    // Destroyed once the delete ended, and right after it (not after some wait of its own).
    expect(sweep.deletes).toEqual(['done', 'destroyed']);
    expect(Date.now() - released).toBeLessThan(1_000);
  });
});
