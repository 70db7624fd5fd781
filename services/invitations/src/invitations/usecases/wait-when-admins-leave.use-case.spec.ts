import { ViewsRepository } from '../views/views.repository';
import { WaitWhenAdminsLeave } from './wait-when-admins-leave.use-case';

/** A date in FY27; prog-1 takes enrollments in FY27, prog-2 is closed. */
const now = new Date('2026-12-01T12:00:00Z');
const programs = new Map([
  ['prog-1', { _id: 'prog-1', state: 'OPEN', fiscalYear: 'FY27' }],
  ['prog-2', { _id: 'prog-2', state: 'CLOSED', fiscalYear: 'FY27' }],
]);

describe('WaitWhenAdminsLeave', () => {
  it("reconciles the ISSUED invitations of the locations the role was lost on that could wait again: an open program's current year", async () => {
    const reconciled: string[] = [];
    const asked: Array<[string[] | null, string[]]> = [];
    const wait = new WaitWhenAdminsLeave(
      { apply: async () => undefined } as never,
      {
        issuedIn: async (_partnerId: string, locations: string[] | null, years: string[]) => (
          asked.push([locations, years]),
          [
            { _id: 'current', programId: 'prog-1', fiscalYear: 'FY27' },
            { _id: 'past-year', programId: 'prog-1', fiscalYear: 'FY26' },
            { _id: 'closed-program', programId: 'prog-2', fiscalYear: 'FY27' },
          ]
        ),
      } as never,
      { executeAll: async (ids: Iterable<string>) => void reconciled.push(...ids) } as never,
      {
        enrollableAt: (rows: never, at: Date) => ViewsRepository.prototype.enrollableAt.call({ programsById: async () => programs } as never, rows, at),
        currentFiscalYears: async () => ['FY27'],
      } as never,
      { now: () => now } as never,
    );
    const user = { userId: 'u1', partnerId: 'p1', active: true, roles: [] };
    await wait.execute('RoleRevoked', { user, role: 'INCENTIVES_ADMIN', locationIds: ['*'], changedBy: 'admin' });
    // The current years of the programs taking enrollments only (past years' ISSUED ones are not read).
    expect(asked).toEqual([[null, ['FY27']]]);
    expect(reconciled).toEqual(['current']);
  });
});
