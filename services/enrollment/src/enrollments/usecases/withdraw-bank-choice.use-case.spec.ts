import { Clock } from '@lib/platform';
import { Enrollment } from '../enrollment.schema';
import { EnrollmentEvents } from '../enrollment-events';
import { ProfileFacts } from '../enrollment-rules';
import { EnrollmentsRepository } from '../enrollments.repository';
import { WithdrawBankChoice } from './withdraw-bank-choice.use-case';

const narrowed: ProfileFacts = { profileId: 'b1', partnerId: 'p', status: 'APPROVED', revision: 1, reasons: [], name: 'EUR', locationIds: ['L2'] };
const enrollment = (over: Partial<Enrollment> = {}): Enrollment => ({
  _id: 'e1',
  programId: 'prog',
  partnerId: 'p',
  locationId: 'L1',
  fiscalYear: 'FY27', // 2026-07-01 .. 2027-06-30
  status: 'ENROLLED',
  reasons: [],
  missing: [],
  bankProfileId: 'b1',
  bankChosen: true,
  submittedAt: new Date('2026-08-01T00:00:00Z'),
  enrolledAt: new Date('2026-08-01T00:00:00Z'),
  version: 3,
  createdAt: new Date('2026-08-01T00:00:00Z'),
  updatedAt: new Date('2026-08-01T00:00:00Z'),
  ...over,
});

function withdrawAt(now: string) {
  const update = jest.fn(async (current: Enrollment, changes: Partial<Enrollment>, _events: unknown[], _unset: string[] = []) => ({ ...current, ...changes, version: current.version + 1 }) as Enrollment);
  const events = { event: jest.fn(() => ({})), committed: jest.fn() } as unknown as EnrollmentEvents;
  const clock = { now: () => new Date(now) } as Clock;
  return { use: new WithdrawBankChoice({ update } as unknown as EnrollmentsRepository, events, clock), update };
}

describe('WithdrawBankChoice', () => {
  it('withdraws a kept bank profile that no longer serves the location: ACTION_REQUIRED, marked bankWithdrawn, back to the proposal', async () => {
    const { use, update } = withdrawAt('2027-03-01T00:00:00Z');
    const written = await use.apply(enrollment(), narrowed);
    expect(update).toHaveBeenCalledTimes(1);
    expect(update.mock.calls[0][1]).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', bankChosen: false, bankWithdrawn: true }));
    expect(update.mock.calls[0][3]).toEqual(['submittedAt']);
    expect(written).toMatchObject({ status: 'ACTION_REQUIRED', bankWithdrawn: true, bankProfileId: 'b1' });
  });

  it("leaves an enrollment whose fiscal year is over alone, rolled over or not yet: the rollover decides it from the view", async () => {
    for (const now of ['2027-07-01T00:00:00Z', '2027-09-01T00:00:00Z']) {
      const { use, update } = withdrawAt(now);
      const current = enrollment();
      expect(await use.apply(current, narrowed)).toBe(current);
      expect(update).not.toHaveBeenCalled();
    }
  });
});
