import type { ConsumedEvent } from '@lib/messaging';
import type { ProgramEvent } from '@lib/contracts';
import type { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import type { EnrollmentsRepository } from '../enrollments.repository';
import { ExternalEventsHandler } from './external-events.handler';

/** The handler with the catalog answering `names` in turn (the last one from then on). */
function handler(names: string[]) {
  let reads = 0;
  const find = jest.fn(async () => ({ _id: 'prog', name: names[Math.min(reads++, names.length - 1)] }));
  const renameProgram = jest.fn(async () => 1);
  const none = {} as never;
  const use = new ExternalEventsHandler(none, none, none, none, none, none, none, { find } as unknown as ReadPrograms, { renameProgram } as unknown as EnrollmentsRepository);
  return { use, renamed: () => renameProgram.mock.calls.map((call) => (call as unknown as [string, string])[1]) };
}

const updated = { envelope: { type: 'ProgramUpdated', data: { program: { programId: 'prog', state: 'OPEN', requiresEligibility: false, revision: 6 } } } } as unknown as ConsumedEvent<ProgramEvent>;

describe('ExternalEventsHandler and a program renamed', () => {
  it("names the enrollments by the catalog's name as it is now", async () => {
    const { use, renamed } = handler(['Azure Growth']);
    await use.onProgram(updated);
    expect(renamed()).toEqual(['Azure Growth']);
  });

  // A handling of rev6 read "C", stalled (its consumer lost the partition), and wrote after rev7's handling wrote "D".
  it('renames again when the catalog changed while it wrote: the later name is the one left', async () => {
    const { use, renamed } = handler(['C', 'D']);
    await use.onProgram(updated);
    expect(renamed()).toEqual(['C', 'D']);
  });
});
