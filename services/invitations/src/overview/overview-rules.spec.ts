import { buildOverview, OverviewInput } from './overview-rules';

const base = 'http://portal.test';
/** A date in FY27, and the first instant after it. */
const DURING = new Date('2026-12-01T12:00:00.000Z');
const FY27_OVER = new Date('2027-07-01T00:00:00.000Z');
const admin = { roles: [{ role: 'INCENTIVES_ADMIN' as const, locationIds: ['L1'] }] };
const user = { roles: [{ role: 'INCENTIVES_USER' as const, locationIds: ['L1'] }] };

function input(overrides: Partial<OverviewInput> = {}): OverviewInput {
  return {
    actor: admin,
    locations: [{ _id: 'L1', legalName: 'Contoso', country: 'US' }],
    invitations: [
      { _id: 'i1', programId: 'INV', programName: 'Invited program', locationId: 'L1', fiscalYear: 'FY27', state: 'ISSUED', getStartedUrl: `${base}/x` },
    ],
    programs: new Map([
      ['INV', { _id: 'INV', name: 'Invited program', fiscalYear: 'FY27', requiresEligibility: true, state: 'OPEN' as const }],
      ['OPN', { _id: 'OPN', name: 'Open program', fiscalYear: 'FY27', requiresEligibility: false, state: 'OPEN' as const }],
    ]),
    enrollments: [],
    decisions: [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', eligible: true }],
    portalBaseUrl: base,
    now: DURING,
    ...overrides,
  };
}

describe('buildOverview', () => {
  it('lists invited and open programs with the Enroll action for an Incentives admin', () => {
    const [location] = buildOverview(input());
    expect(location.programs).toEqual([
      expect.objectContaining({ programId: 'INV', status: 'Invited', enrollmentStatus: null, actions: ['ENROLL'], getStartedUrl: `${base}/incentives/enroll?programId=INV&locationId=L1&fiscalYear=FY27`, invitationId: 'i1' }),
      expect.objectContaining({
        programId: 'OPN',
        status: 'Invited',
        requiresEligibility: false,
        actions: ['ENROLL'],
        getStartedUrl: `${base}/incentives/enroll?programId=OPN&locationId=L1&fiscalYear=FY27`,
      }),
    ]);
  });

  it('orders programs of the same name and year by id, whatever order they were read in', () => {
    const twin = (id: string) => [id, { _id: id, name: 'Same name', fiscalYear: 'FY27', requiresEligibility: false, state: 'OPEN' as const }] as const;
    const order = (ids: string[]) => buildOverview(input({ invitations: [], programs: new Map(ids.map(twin)) }))[0].programs.map((p) => p.programId);
    expect(order(['B2', 'A1', 'C3'])).toEqual(['A1', 'B2', 'C3']);
    expect(order(['C3', 'B2', 'A1'])).toEqual(['A1', 'B2', 'C3']);
  });

  it('offers no action to an Incentives user', () => {
    const [location] = buildOverview(input({ actor: user }));
    expect(location.programs.map((p) => p.actions)).toEqual([[], []]);
    expect(location.programs.every((p) => p.getStartedUrl === undefined)).toBe(true);
  });

  it('shows the enrollment status in Partner Center wording, and no Enroll once enrolled or validating', () => {
    const enrollments = [
      { programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status: 'VALIDATING' as const },
      { programId: 'OPN', locationId: 'L1', fiscalYear: 'FY27', status: 'ACTION_REQUIRED' as const },
    ];
    const [location] = buildOverview(input({ enrollments }));
    expect(location.programs).toEqual([
      expect.objectContaining({ programId: 'INV', status: 'Validating enrollment', enrollmentStatus: 'VALIDATING', actions: [] }),
      expect.objectContaining({ programId: 'OPN', status: 'Action required', actions: ['ENROLL'] }),
    ]);
    // Everyone else sees "Enrolling" while it is in progress, as the enrollment API tells them.
    const [seen] = buildOverview(input({ enrollments, actor: user }));
    expect(seen.programs.map((p) => [p.programId, p.status, p.enrollmentStatus])).toEqual([
      ['INV', 'Enrolling', 'VALIDATING'],
      ['OPN', 'Enrolling', 'ACTION_REQUIRED'],
    ]);
  });

  // As the enrollment API labels it (enrollmentStatusLabel): the two screens said "Invited" and "Enrolling" for one.
  it('shows "Enrolling" to everyone but the admin for an invited enrollment Enroll has started (waiting for Submit); "Invited" for one nobody acted on', () => {
    const invited = (started: boolean) => [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status: 'INVITED' as const, started }];
    const label = (actor: OverviewInput['actor'], started: boolean) => buildOverview(input({ actor, enrollments: invited(started) }))[0].programs.find((p) => p.programId === 'INV')!.status;
    expect([label(user, true), label(user, false), label(admin, true), label(admin, false)]).toEqual(['Enrolling', 'Invited', 'Invited', 'Invited']);
  });

  it('leaves out revoked invitations and closed programs the location is not enrolled in', () => {
    const programs = new Map([
      ['INV', { _id: 'INV', name: 'Invited program', fiscalYear: 'FY27', requiresEligibility: true, state: 'OPEN' as const }],
      ['OPN', { _id: 'OPN', name: 'Open program', fiscalYear: 'FY27', requiresEligibility: false, state: 'CLOSED' as const }],
    ]);
    const invitations = [{ ...input().invitations[0], state: 'REVOKED' as const }];
    expect(buildOverview(input({ programs, invitations }))[0].programs).toEqual([]);
  });

  it('keeps a program the location is enrolled in, without the action, even when it is closed', () => {
    const programs = new Map([
      ['INV', { _id: 'INV', name: 'Invited program', fiscalYear: 'FY27', requiresEligibility: true, state: 'CLOSED' as const }],
    ]);
    const enrollments = [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status: 'ENROLLED' as const }];
    expect(buildOverview(input({ programs, enrollments }))[0].programs).toEqual([
      expect.objectContaining({ programId: 'INV', status: 'Enrolled', actions: [] }),
    ]);
  });

  // Only starting needs an OPEN program: Enroll answers Continue for one started before the program closed.
  it('offers Enroll (Continue) on an enrollment started before its program closed, while its year runs; not on one nobody started', () => {
    const programs = new Map([['INV', { _id: 'INV', name: 'Invited program', fiscalYear: 'FY27', requiresEligibility: true, state: 'CLOSED' as const }]]);
    const actions = (status: 'ACTION_REQUIRED' | 'INVITED' | 'VALIDATING', started: boolean, now = DURING) =>
      buildOverview(input({ programs, now, enrollments: [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status, started }] }))[0].programs.map((p) => p.actions);
    expect(actions('ACTION_REQUIRED', true)).toEqual([['ENROLL']]);
    // A row stored before the view kept `started`: Action required is reached only once started.
    expect(actions('ACTION_REQUIRED', undefined as unknown as boolean)).toEqual([['ENROLL']]);
    expect(actions('INVITED', true)).toEqual([['ENROLL']]);
    expect(actions('INVITED', false)).toEqual([[]]);
    expect(actions('VALIDATING', true)).toEqual([[]]);
    expect(actions('ACTION_REQUIRED', true, FY27_OVER)).toEqual([[]]);
    // Ended INELIGIBLE after it was started, the location eligible again (input's decision): Enroll starts it again.
    const ineligible = (started: boolean, decisions = input().decisions) =>
      buildOverview(input({ programs, decisions, enrollments: [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status: 'INELIGIBLE', started }] }))[0].programs.map((p) => p.actions);
    expect(ineligible(true)).toEqual([['ENROLL']]);
    expect(ineligible(false)).toEqual([[]]);
    expect(ineligible(true, [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', eligible: false }])).toEqual([[]]);
    // Ended by a decision the view does not hold yet (D2), the view's eligible one (D1) made before it: not again until a
    // later one comes, as Enroll answers (422); one made after it starts it again.
    const endedBy = { eventId: 'D2', decidedAt: new Date('2026-11-30T10:00:00Z') };
    const endedByD2 = (decision: { eventId: string; decidedAt: Date }) =>
      buildOverview(
        input({
          programs,
          decisions: [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', eligible: true, ...decision }],
          enrollments: [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status: 'INELIGIBLE', started: true, endedBy }],
        }),
      )[0].programs.map((p) => p.actions);
    expect(endedByD2({ eventId: 'D1', decidedAt: new Date('2026-11-30T09:00:00Z') })).toEqual([[]]);
    expect(endedByD2({ eventId: 'D3', decidedAt: new Date('2026-11-30T11:00:00Z') })).toEqual([['ENROLL']]);
    const discontinued = new Map([['INV', { ...programs.get('INV')!, state: 'DISCONTINUED' as const }]]);
    expect(buildOverview(input({ programs: discontinued, enrollments: [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status: 'ACTION_REQUIRED', started: true }] }))[0].programs.map((p) => p.actions)).toEqual([[]]);
    // Not the admin's: a reader gets no action.
    expect(buildOverview(input({ programs, actor: user, enrollments: [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status: 'ACTION_REQUIRED', started: true }] }))[0].programs[0].actions).toEqual([]);
  });

  it('keeps each location apart', () => {
    const locations = [
      { _id: 'L1', legalName: 'Contoso', country: 'US' },
      { _id: 'L2', legalName: 'Contoso DE', country: 'DE' },
    ];
    const [l1, l2] = buildOverview(input({ locations }));
    expect(l1.programs.map((p) => p.programId)).toEqual(['INV', 'OPN']);
    expect(l2.programs.map((p) => p.programId)).toEqual(['OPN']);
    expect(l2.programs[0].actions).toEqual([]);
  });

  it('offers no Enroll for an expired or discontinued enrollment (Enroll refuses it)', () => {
    for (const status of ['EXPIRED', 'DISCONTINUED'] as const) {
      const enrollments = [
        { programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status },
        { programId: 'OPN', locationId: 'L1', fiscalYear: 'FY27', status },
      ];
      const [location] = buildOverview(input({ enrollments }));
      expect(location.programs.map((p) => [p.programId, p.enrollmentStatus, p.actions, p.getStartedUrl])).toEqual([
        ['INV', status, [], undefined],
        ['OPN', status, [], undefined],
      ]);
    }
  });

  it('offers Enroll for an ineligible enrollment only once the location is eligible again (open programs: always)', () => {
    const enrollments = [
      { programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status: 'INELIGIBLE' as const },
      { programId: 'OPN', locationId: 'L1', fiscalYear: 'FY27', status: 'INELIGIBLE' as const },
    ];
    // Still ineligible (an ENROLLED invitation is never revoked, so it stays listed): Enroll would answer 422.
    const invitations = [{ ...input().invitations[0], state: 'ENROLLED' as const }];
    const ineligible = [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', eligible: false }];
    const [still] = buildOverview(input({ enrollments, invitations, decisions: ineligible }));
    expect(still.programs.map((p) => [p.programId, p.status, p.actions])).toEqual([
      ['INV', 'Inactive / Ineligible', []],
      ['OPN', 'Inactive / Ineligible', ['ENROLL']],
    ]);
    // Eligible again (the invitation was issued again): Enroll starts the enrollment again.
    const [again] = buildOverview(input({ enrollments }));
    expect(again.programs.map((p) => [p.programId, p.actions])).toEqual([
      ['INV', ['ENROLL']],
      ['OPN', ['ENROLL']],
    ]);
  });

  it("lists an invitation only while its fiscal year is the program's current one, unless the location enrolled in it", () => {
    const programs = new Map([
      ['INV', { _id: 'INV', name: 'Invited program', fiscalYear: 'FY28', requiresEligibility: true, state: 'OPEN' as const }],
    ]);
    expect(buildOverview(input({ programs }))[0].programs).toEqual([]);
    const enrollments = [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status: 'ACTION_REQUIRED' as const }];
    expect(buildOverview(input({ programs, enrollments }))[0].programs).toEqual([
      expect.objectContaining({ programId: 'INV', fiscalYear: 'FY27', status: 'Action required', actions: [] }),
    ]);
  });

  it('offers nothing of a fiscal year that is over while the program is still in it: invited and open programs are left out', () => {
    const justBefore = new Date(FY27_OVER.getTime() - 1);
    expect(buildOverview(input({ now: justBefore }))[0].programs.map((p) => [p.programId, p.actions])).toEqual([
      ['INV', ['ENROLL']],
      ['OPN', ['ENROLL']],
    ]);
    expect(buildOverview(input({ now: FY27_OVER }))[0].programs).toEqual([]);
  });

  it('shows an enrollment of a fiscal year that is over with its status and no action (Continue and Submit refuse it)', () => {
    const enrollments = [
      { programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status: 'ACTION_REQUIRED' as const },
      { programId: 'OPN', locationId: 'L1', fiscalYear: 'FY27', status: 'ACTION_REQUIRED' as const },
    ];
    const [location] = buildOverview(input({ enrollments, now: FY27_OVER }));
    expect(location.programs.map((p) => [p.programId, p.fiscalYear, p.status, p.invitationState, p.actions, p.getStartedUrl])).toEqual([
      ['INV', 'FY27', 'Action required', 'ISSUED', [], undefined],
      ['OPN', 'FY27', 'Action required', undefined, [], undefined],
    ]);
  });

  it('offers Enroll (Continue) on an enrollment the rollover continued into the new year as Action required, which has no invitation', () => {
    const programs = new Map([['INV', { _id: 'INV', name: 'Invited program', fiscalYear: 'FY28', requiresEligibility: true, state: 'OPEN' as const }]]);
    const enrollments = [
      { programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status: 'ENROLLED' as const },
      { programId: 'INV', locationId: 'L1', fiscalYear: 'FY28', status: 'ACTION_REQUIRED' as const },
    ];
    const entries = (overrides: Partial<OverviewInput>) =>
      buildOverview(input({ programs, enrollments, invitations: [], decisions: [], ...overrides }))[0].programs.map((p) => [p.fiscalYear, p.status, p.actions, p.getStartedUrl]);
    expect(entries({})).toEqual([
      ['FY27', 'Enrolled', [], undefined],
      ['FY28', 'Action required', ['ENROLL'], `${base}/incentives/enroll?programId=INV&locationId=L1&fiscalYear=FY28`],
    ]);
    // Not while the program is still in FY27 (Enroll would act on FY27), nor for an Incentives user. Closed, it goes on:
    // the rollover started it (Action required only once started), and Enroll answers Continue on one started.
    const stillFy27 = new Map([['INV', { ...programs.get('INV')!, fiscalYear: 'FY27' }]]);
    expect(entries({ programs: stillFy27 }).map((e) => e[2])).toEqual([[], []]);
    const closed = new Map([['INV', { ...programs.get('INV')!, state: 'CLOSED' as const }]]);
    expect(entries({ programs: closed }).map((e) => e[2])).toEqual([[], ['ENROLL']]);
    expect(entries({ actor: user }).map((e) => e[2])).toEqual([[], []]);
  });

  // An open program moved on to FY28 before the rollover has continued the location's completed FY27 enrollment: FY28
  // is the rollover's to continue with no action, as a program needing eligibility holds its invitation then.
  it("lists no Enroll for an open program's next year while the completed enrollment of the year before waits for the rollover", () => {
    const programs = new Map([['OPN', { _id: 'OPN', name: 'Open program', fiscalYear: 'FY28', requiresEligibility: false, state: 'OPEN' as const }]]);
    const fy27 = { enrollmentId: 'e27', programId: 'OPN', locationId: 'L1', fiscalYear: 'FY27', started: true };
    const entries = (enrollments: OverviewInput['enrollments']) =>
      buildOverview(input({ programs, enrollments, invitations: [], decisions: [] }))[0].programs.map((p) => [p.fiscalYear, p.status, p.actions]);
    expect(entries([{ ...fy27, status: 'ENROLLED', completed: true }])).toEqual([['FY27', 'Enrolled', []]]);
    // Back in validation after an edit, still completed: the same.
    expect(entries([{ ...fy27, status: 'VALIDATING', completed: true }])).toEqual([['FY27', 'Validating enrollment', []]]);
    // Ended (expired at the year's end, or never completed): FY28 is Enroll's.
    expect(entries([{ ...fy27, status: 'EXPIRED', completed: true }])).toEqual([
      ['FY27', 'Expired', []],
      ['FY28', 'Invited', ['ENROLL']],
    ]);
    expect(entries([{ ...fy27, status: 'ACTION_REQUIRED' }])).toEqual([
      ['FY27', 'Action required', ['CONTINUE']],
      ['FY28', 'Invited', ['ENROLL']],
    ]);
  });

  // An operator's early rollover run continues a completed FY27 enrollment sent back to Action required into FY28 while
  // the program is still in FY27: Enroll answers the FY27 one as it is (it was rolled over), changing nothing.
  it('offers no Enroll on an enrollment the rollover has continued into the next year already (an early run); Continue on the continuation', () => {
    const enrollments = [
      { enrollmentId: 'e27', programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status: 'ACTION_REQUIRED' as const, started: true },
      { enrollmentId: 'e28', programId: 'INV', locationId: 'L1', fiscalYear: 'FY28', status: 'ACTION_REQUIRED' as const, started: true, madeByRollover: true },
    ];
    const entries = (list: OverviewInput['enrollments']) =>
      buildOverview(input({ enrollments: list, invitations: [], decisions: [] }))[0].programs.filter((p) => p.programId === 'INV').map((p) => [p.fiscalYear, p.actions]);
    expect(entries(enrollments)).toEqual([
      ['FY27', []],
      ['FY28', ['CONTINUE']],
    ]);
    // Without the continuation, FY27's goes on as before.
    expect(entries([enrollments[0]])).toEqual([['FY27', ['ENROLL']]]);
    // The continuation ended, then started again by Enroll: FY27 was rolled over all the same (Enroll answers it as it is);
    // FY28's, started (Submit next, as the enrollment service answers it), is continued on its page.
    expect(entries([enrollments[0], { ...enrollments[1], status: 'INVITED' as const }])).toEqual([
      ['FY27', []],
      ['FY28', ['CONTINUE']],
    ]);
    // A row stored before madeByRollover was recorded: its `continued` tells the same.
    expect(entries([enrollments[0], { ...enrollments[1], madeByRollover: undefined, continued: true }])).toEqual([
      ['FY27', []],
      ['FY28', ['CONTINUE']],
    ]);
    // An FY28 enrollment the rollover did not make (started by Enroll on its own): FY27's goes on.
    expect(entries([enrollments[0], { ...enrollments[1], madeByRollover: false }])).toEqual([
      ['FY27', ['ENROLL']],
      ['FY28', ['CONTINUE']],
    ]);
  });

  it('offers Enroll again once the programs move to the next fiscal year (which may not have started yet)', () => {
    const programs = new Map([
      ['INV', { _id: 'INV', name: 'Invited program', fiscalYear: 'FY28', requiresEligibility: true, state: 'OPEN' as const }],
      ['OPN', { _id: 'OPN', name: 'Open program', fiscalYear: 'FY28', requiresEligibility: false, state: 'OPEN' as const }],
    ]);
    const invitations = [{ ...input().invitations[0], _id: 'i2', fiscalYear: 'FY28' }];
    for (const now of [DURING, FY27_OVER]) {
      const [location] = buildOverview(input({ programs, invitations, now }));
      expect(location.programs.map((p) => [p.programId, p.fiscalYear, p.actions])).toEqual([
        ['INV', 'FY28', ['ENROLL']],
        ['OPN', 'FY28', ['ENROLL']],
      ]);
    }
  });

  // The rollover renewed FY27 into FY28 as Action required (a tax profile expired) while the program is still in FY27:
  // Enroll acts on FY27 (ENROLLED, rolled over), the FY28 enrollment's own page continues it, as its admin was told.
  it('offers Continue, on its own page, on a renewal the rollover made Action required while the program is still in the year before', () => {
    const programs = new Map([['INV', { _id: 'INV', name: 'Invited program', fiscalYear: 'FY27', requiresEligibility: true, state: 'OPEN' as const }]]);
    const renewal = { enrollmentId: 'enr-INV-L1-FY28', programId: 'INV', locationId: 'L1', fiscalYear: 'FY28', status: 'ACTION_REQUIRED' as const, started: true, madeByRollover: true };
    const enrollments = [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', status: 'ENROLLED' as const }, renewal];
    const entries = (overrides: Partial<OverviewInput>) =>
      buildOverview(input({ programs, enrollments, invitations: [], decisions: [], now: FY27_OVER, ...overrides }))[0].programs.map((p) => [p.fiscalYear, p.actions, p.continueUrl, p.getStartedUrl]);
    expect(entries({})).toEqual([
      ['FY27', [], undefined, undefined],
      ['FY28', ['CONTINUE'], `${base}/incentives/enrollments/enr-INV-L1-FY28`, undefined],
    ]);
    // Ended INELIGIBLE, the location eligible for FY28 again: Continue on its page starts it again; not while ineligible.
    const fy28 = (eligible: boolean) => [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY28', eligible }];
    expect(entries({ enrollments: [enrollments[0], { ...renewal, status: 'INELIGIBLE' as const }], decisions: fy28(true) }).map((e) => e[1])).toEqual([[], ['CONTINUE']]);
    expect(entries({ enrollments: [enrollments[0], { ...renewal, status: 'INELIGIBLE' as const }], decisions: fy28(false) }).map((e) => e[1])).toEqual([[], []]);
    // Of a year the program has moved past (FY27's, the program in FY28): starting it again is refused (409), nothing offered.
    const movedOn = new Map([['INV', { ...programs.get('INV')!, fiscalYear: 'FY28' }]]);
    const fy27 = [{ programId: 'INV', locationId: 'L1', fiscalYear: 'FY27', eligible: true }];
    const ended27 = { ...renewal, enrollmentId: 'enr-INV-L1-FY27', fiscalYear: 'FY27', status: 'INELIGIBLE' as const, madeByRollover: false };
    expect(entries({ programs: movedOn, enrollments: [ended27], decisions: fy27, now: new Date('2027-03-01T00:00:00Z') }).map((e) => e[1])).toEqual([[]]);
    // Continued by its admin until nothing is missing (INVITED, Submit next): still Continue, on its page (where Submit is).
    expect(entries({ enrollments: [enrollments[0], { ...renewal, status: 'INVITED' as const }] }).map((e) => e[1])).toEqual([[], ['CONTINUE']]);
    // Only its admin; not once it goes on to VALIDATING; not of a year that is over; not of a discontinued program.
    expect(entries({ actor: user }).map((e) => e[1])).toEqual([[], []]);
    expect(entries({ enrollments: [enrollments[0], { ...renewal, status: 'VALIDATING' as const }] }).map((e) => e[1])).toEqual([[], []]);
    expect(entries({ now: new Date('2028-07-02T00:00:00Z') }).map((e) => e[1])).toEqual([[], []]);
    const discontinued = new Map([['INV', { ...programs.get('INV')!, state: 'DISCONTINUED' as const }]]);
    expect(entries({ programs: discontinued }).map((e) => e[1])).toEqual([[], []]);
    // Once the program moves to FY28, Enroll (Get Started) is the way, as before.
    const moved = new Map([['INV', { ...programs.get('INV')!, fiscalYear: 'FY28' }]]);
    expect(entries({ programs: moved }).map((e) => e[1])).toEqual([[], ['ENROLL']]);
  });
});
