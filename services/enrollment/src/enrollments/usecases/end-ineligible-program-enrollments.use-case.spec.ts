import { IDS_PER_LOOKUP } from '@lib/messaging';
import { Logger } from '@nestjs/common';
import { eligibilityId } from '../../common/ids';
import type { Program } from '../../programs/program.schema';
import type { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import type { ViewsRepository } from '../../views/views.repository';
import type { Enrollment } from '../enrollment.schema';
import type { EnrollmentsRepository } from '../enrollments.repository';
import { EndIneligibleProgramEnrollments } from './end-ineligible-program-enrollments.use-case';
import type { MarkIneligible } from './mark-ineligible.use-case';
import type { ReopenInvitation } from './reopen-invitation.use-case';

const REVISION = 4;
const requiring = { _id: 'prog', requiresEligibility: true, state: 'OPEN', eligibilityRequiredSince: REVISION } as unknown as Program;
const openAgain = { ...requiring, requiresEligibility: false } as unknown as Program;

/** Unfinished enrollments of two chunks' worth, every location decided not eligible for FY27. */
function sweep(programs: Array<Program | null>) {
  const count = IDS_PER_LOOKUP + 10;
  const enrollments = Array.from({ length: count }, (_, i) => {
    const n = String(i).padStart(3, '0');
    return { _id: `e${n}`, programId: 'prog', partnerId: 'p', locationId: `L${n}`, fiscalYear: 'FY27', status: 'ACTION_REQUIRED' } as unknown as Enrollment;
  });
  const views = enrollments.map((e) => ({ _id: eligibilityId('prog', e.locationId), years: { FY27: { eligible: false, reasons: ['Not eligible.'], partnerId: 'p', eventId: `d-${e.locationId}`, decidedAt: new Date('2026-08-01T00:00:00Z') } } }));
  let reads = 0;
  const find = jest.fn(async (): Promise<Program | null> => programs[Math.min(reads++, programs.length - 1)]);
  // Ended before (INELIGIBLE): two only invited, one started (evaluatedAt), one of a rollover.
  const ended = [
    { _id: 'x1', programId: 'prog', partnerId: 'p', locationId: 'X1', fiscalYear: 'FY27', status: 'INELIGIBLE' },
    { _id: 'x2', programId: 'prog', partnerId: 'p', locationId: 'X2', fiscalYear: 'FY27', status: 'INELIGIBLE', evaluatedAt: new Date() },
    { _id: 'x3', programId: 'prog', partnerId: 'p', locationId: 'X3', fiscalYear: 'FY27', status: 'INELIGIBLE' },
    { _id: 'x4', programId: 'prog', partnerId: 'p', locationId: 'X4', fiscalYear: 'FY27', status: 'INELIGIBLE', rollover: { outcome: 'RENEWED' } },
  ] as unknown as Enrollment[];
  const ofProgramIn = jest.fn(async (_id: string, statuses: string[], _limit: number, after?: string) =>
    after !== undefined ? [] : statuses.includes('INELIGIBLE') ? ended : enrollments,
  );
  const collection = { find: (query: { _id: { $in: string[] } }) => ({ toArray: async () => views.filter((v) => query._id.$in.includes(v._id)) }) };
  const execute = jest.fn(async () => undefined);
  const reopen = jest.fn(async () => null);
  const use = new EndIneligibleProgramEnrollments(
    { find } as unknown as ReadPrograms,
    { ofProgramIn } as unknown as EnrollmentsRepository,
    { eligibilityModel: { collection } } as unknown as ViewsRepository,
    { execute } as unknown as MarkIneligible,
    { execute: reopen } as unknown as ReopenInvitation,
  );
  return {
    use,
    ended: () => execute.mock.calls.map((call) => (call as unknown as [{ locationId: string }])[0].locationId),
    named: () => execute.mock.calls.map((call) => (call as unknown[])[3]),
    reopened: () => reopen.mock.calls.map((call) => (call as unknown as [{ locationId: string }])[0].locationId),
    count,
  };
}

describe('EndIneligibleProgramEnrollments', () => {
  // Its log lines (what it ended, where it stopped) are not what these say.
  beforeEach(() => jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined));
  afterEach(() => jest.restoreAllMocks());

  it('ends every unfinished enrollment of a location not eligible while the program still requires eligibility', async () => {
    const { use, ended, named, reopened, count } = sweep([requiring]);
    expect(await use.execute('prog', REVISION)).toBe(count);
    expect(ended()).toHaveLength(count);
    // Each ended on the decision its view holds, which its event names.
    expect(named()[0]).toEqual({ eventId: 'd-L000', decidedAt: '2026-08-01T00:00:00.000Z' });
    // Once the ends are written, those ended while only invited are read again against the views (an eligible decision
    // handled meanwhile, or before a crash, reopens them); not one started, nor one of a rollover.
    expect(reopened()).toEqual(['X1', 'X3']);
  });

  // An operator undoing the flip (requiresEligibility false again) while the sweep pages through a large program: the
  // rest would have ended INELIGIBLE, emailed "ineligible", in a program open again.
  it('stops at the next chunk once the program is open again', async () => {
    const { use, ended } = sweep([requiring, requiring, openAgain]);
    expect(await use.execute('prog', REVISION)).toBe(IDS_PER_LOOKUP);
    expect(ended()).toHaveLength(IDS_PER_LOOKUP);
    expect(ended()[0]).toBe('L000');
  });

  it('does nothing for another revision than the one that made the program require eligibility', async () => {
    const { use, ended } = sweep([requiring]);
    expect(await use.execute('prog', REVISION + 1)).toBe(0);
    expect(ended()).toEqual([]);
  });
});
