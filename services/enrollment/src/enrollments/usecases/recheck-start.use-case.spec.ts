import type { Program } from '../../programs/program.schema';
import type { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import type { ViewsRepository } from '../../views/views.repository';
import type { EnrollmentsRepository } from '../enrollments.repository';
import type { DiscontinueProgramEnrollments } from './discontinue-program-enrollments.use-case';
import type { MarkIneligible } from './mark-ineligible.use-case';
import { RecheckStart } from './recheck-start.use-case';

const program = (over: Partial<Program> = {}) => ({ _id: 'prog', name: 'Cloud Solution Incentive', state: 'OPEN', requiresEligibility: false, ...over }) as unknown as Program;
const started = { _id: 'e1', programId: 'prog', locationId: 'L1', fiscalYear: 'FY27', partnerId: 'p', programName: 'Cloud Incentive' };

function recheck(now: Program) {
  const renameFrom = jest.fn(async () => undefined);
  const use = new RecheckStart(
    { find: async () => now } as unknown as ReadPrograms,
    { partnersEligibility: async () => undefined } as unknown as ViewsRepository,
    { renameFrom } as unknown as EnrollmentsRepository,
    {} as unknown as MarkIneligible,
    {} as unknown as DiscontinueProgramEnrollments,
  );
  return { use, renameFrom };
}

describe('RecheckStart and a rename', () => {
  // Enroll (or an invitation recorded) read the program, the operator renamed it, the rename's sweep ran, then the
  // write landed with the old name: nothing else would ever correct it.
  it('renames an enrollment written with the name read before a rename, where it still has that name', async () => {
    const { use, renameFrom } = recheck(program());
    expect(await use.execute(started)).toEqual({ ended: null, renamedTo: 'Cloud Solution Incentive' });
    expect(renameFrom).toHaveBeenCalledWith('e1', 'Cloud Incentive', 'Cloud Solution Incentive');
  });

  it('renames nothing when the name is the one written, or when the caller gave the program it read (no read after the write)', async () => {
    const same = recheck(program({ name: 'Cloud Incentive' }));
    expect(await same.use.execute(started)).toEqual({ ended: null });
    expect(same.renameFrom).not.toHaveBeenCalled();
    const given = recheck(program());
    expect(await given.use.execute(started, program())).toEqual({ ended: null });
    expect(given.renameFrom).not.toHaveBeenCalled();
  });
});

describe('RecheckStart after a Submit', () => {
  // Submit read the program open (ineligible decisions ignored), the operator made it require eligibility, then Submit
  // wrote ENROLLED: the program's sweep leaves completed enrollments, so this check is the one that ends it.
  it('judges with the program as it is now, not as Submit read it', async () => {
    const end = jest.fn(async () => undefined);
    const written = { ...started, _id: 'e1', status: 'ENROLLED', submittedAt: new Date('2026-12-01T00:00:00Z') } as never;
    const use = new RecheckStart(
      { find: async () => program({ requiresEligibility: true }) } as unknown as ReadPrograms,
      { partnersEligibility: async () => ({ eligible: false, reasons: ['Not a Solutions Partner'], decidedAt: new Date('2026-11-01T00:00:00Z'), eventId: 'd1' }) } as unknown as ViewsRepository,
      { reload: async () => ({ status: 'INELIGIBLE' }) } as unknown as EnrollmentsRepository,
      { end } as unknown as MarkIneligible,
      {} as unknown as DiscontinueProgramEnrollments,
    );
    expect(await use.afterSubmit(written, program({ requiresEligibility: false }))).toEqual([expect.stringContaining('Not a Solutions Partner')]);
    expect(end).toHaveBeenCalledTimes(1);
  });
});
