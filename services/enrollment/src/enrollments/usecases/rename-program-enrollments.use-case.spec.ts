import type { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import type { EnrollmentsRepository } from '../enrollments.repository';
import { RenameProgramEnrollments } from './rename-program-enrollments.use-case';

/** The use case with the catalog answering `names` in turn (the last one from then on); null: no such program. */
function renaming(names: Array<string | null>) {
  let reads = 0;
  const find = jest.fn(async () => {
    const name = names[Math.min(reads++, names.length - 1)];
    return name === null ? null : { _id: 'prog', name };
  });
  const renameProgram = jest.fn(async () => 1);
  const use = new RenameProgramEnrollments({ find } as unknown as ReadPrograms, { renameProgram } as unknown as EnrollmentsRepository);
  return { use, renamed: () => renameProgram.mock.calls.map((call) => (call as unknown as [string, string])[1]) };
}

describe('RenameProgramEnrollments', () => {
  it("names the enrollments by the catalog's name as it is now", async () => {
    const { use, renamed } = renaming(['Azure Growth']);
    await use.execute('prog');
    expect(renamed()).toEqual(['Azure Growth']);
  });

  // A handling of rev6 read "C", stalled (its consumer lost the partition), and wrote after rev7's handling wrote "D".
  it('renames again when the catalog changed while it wrote: the later name is the one left', async () => {
    const { use, renamed } = renaming(['C', 'D']);
    await use.execute('prog');
    expect(renamed()).toEqual(['C', 'D']);
  });

  it('writes nothing for a program the catalog does not hold, and stops after five rounds of a name that keeps changing', async () => {
    const gone = renaming([null]);
    await gone.use.execute('prog');
    expect(gone.renamed()).toEqual([]);
    const restless = renaming(['A', 'B', 'C', 'D', 'E', 'F', 'G']);
    await restless.use.execute('prog');
    expect(restless.renamed()).toEqual(['A', 'B', 'C', 'D', 'E']);
  });
});
