import { EnrollmentStatuses, ProgramStates } from '@lib/contracts';
import { InvitationStates } from './invitation.schema';
import { EnrollmentStatus } from '@lib/contracts';
import { InvitationFacts, invitationsMovedBy, nextTransition, Person, whyNotInviting } from './invitation-rules';

const FY = 'FY27';
/** A date in FY27 (2026-07-01 .. 2027-06-30), and the first instants after FY27 and FY28. */
const DURING = new Date('2026-12-01T12:00:00.000Z');
const FY27_OVER = new Date('2027-07-01T00:00:00.000Z');
const FY28_OVER = new Date('2028-07-01T00:00:00.000Z');
const ann: Person = { userId: 'ann', email: 'ann@example.com', displayName: 'Ann' };
const bob: Person = { userId: 'bob', email: 'bob@example.com', displayName: 'Bob' };
/** A Global admin of the partner. */
const gail: Person = { userId: 'gail', email: 'gail@example.com', displayName: 'Gail' };
const hugo: Person = { userId: 'hugo', email: 'hugo@example.com', displayName: 'Hugo' };

/** The transition at `now`, by default a date during FY27 (the facts' year). */
const transition = (known: InvitationFacts, now: Date = DURING) => nextTransition(known, now);

function facts(overrides: Partial<InvitationFacts> = {}): InvitationFacts {
  return {
    invitation: null,
    decision: { eligible: true, reasons: [], fiscalYear: FY },
    program: { requiresEligibility: true, state: 'OPEN', fiscalYear: FY },
    enrollmentStatus: null,
    admins: [ann],
    locationKnown: true,
    ...overrides,
  };
}

describe('nextTransition', () => {
  it('issues to the admins of an eligible location', () => {
    expect(transition(facts({ admins: [ann, bob] }))).toEqual({ kind: 'issue', recipients: [ann, bob] });
  });

  it("invites nobody, and asks nobody for an admin, until the location is known as the decision's partner's", () => {
    expect(transition(facts({ locationKnown: false }))).toEqual({ kind: 'none', why: expect.stringContaining('location not known') });
    expect(transition(facts({ locationKnown: false, admins: [] }))).toEqual(expect.objectContaining({ kind: 'none' }));
    // Revoking does not wait: nothing is sent to anyone new.
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(facts({ locationKnown: false, invitation: issued, decision: { eligible: false, reasons: ['no'], fiscalYear: FY } }))).toEqual({ kind: 'revoke', reasons: ['no'] });
  });

  it('waits for an admin when the location has none', () => {
    expect(transition(facts({ admins: [] }))).toEqual({ kind: 'await-admin' });
  });

  it('remembers a decision until the program is known', () => {
    expect(transition(facts({ program: null })).kind).toBe('none');
  });

  it('never invites to an open program', () => {
    expect(transition(facts({ program: { requiresEligibility: false, state: 'OPEN', fiscalYear: FY } })).kind).toBe('none');
  });

  it('issues nothing new for a closed or discontinued program', () => {
    expect(transition(facts({ program: { requiresEligibility: true, state: 'CLOSED', fiscalYear: FY } })).kind).toBe('none');
    expect(transition(facts({ program: { requiresEligibility: true, state: 'DISCONTINUED', fiscalYear: FY } })).kind).toBe('none');
  });

  it('asks the company admins of a waiting invitation once one is known, when nobody could be asked when it started waiting', () => {
    const waiting = { state: 'AWAITING_ADMIN' as const, recipients: [], adminRequestPending: true };
    expect(transition(facts({ invitation: waiting, admins: [] }))).toEqual({ kind: 'none', why: 'no Global or Account admin known yet to ask for an Incentives admin' });
    expect(transition(facts({ invitation: waiting, admins: [], companyAdmins: [gail] }))).toEqual({ kind: 'ask-admins' });
    // An Incentives admin meanwhile: delivered (nobody needs asking any more).
    expect(transition(facts({ invitation: waiting, admins: [ann], companyAdmins: [gail] }))).toEqual({ kind: 'deliver', recipients: [ann] });
    // Asked already: nothing.
    expect(transition(facts({ invitation: { ...waiting, adminRequestPending: false }, admins: [], companyAdmins: [gail] })).kind).toBe('none');
  });

  it('asks a Global or Account admin appointed while it waits, alone; nobody asked before, nobody for a wait that recorded no one', () => {
    const waiting = { state: 'AWAITING_ADMIN' as const, recipients: [], adminRequestPending: false, askedAdmins: ['gail'] };
    expect(transition(facts({ invitation: waiting, admins: [], companyAdmins: [gail, hugo] }))).toEqual({ kind: 'ask-late-admins', recipients: [hugo] });
    expect(transition(facts({ invitation: waiting, admins: [], companyAdmins: [gail] })).kind).toBe('none');
    // Gail left the role: nobody new to ask.
    expect(transition(facts({ invitation: waiting, admins: [], companyAdmins: [] })).kind).toBe('none');
    // A wait begun before whom it asked was recorded: nobody is asked late.
    const { askedAdmins: _, ...unrecorded } = waiting;
    expect(transition(facts({ invitation: unrecorded, admins: [], companyAdmins: [gail, hugo] })).kind).toBe('none');
    // An Incentives admin comes first: delivered; not while being validated, nor once the year is over.
    expect(transition(facts({ invitation: waiting, admins: [ann], companyAdmins: [gail, hugo] }))).toEqual({ kind: 'deliver', recipients: [ann] });
    expect(transition(facts({ invitation: waiting, admins: [], companyAdmins: [gail, hugo], enrollmentStatus: 'VALIDATING' })).kind).toBe('none');
    expect(transition(facts({ invitation: waiting, admins: [], companyAdmins: [gail, hugo] }), FY27_OVER).kind).toBe('none');
  });

  it('delivers an open invitation to admins who do not have it, and only to them', () => {
    const invitation = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(facts({ invitation, admins: [ann, bob] }))).toEqual({ kind: 'deliver', recipients: [bob] });
    expect(transition(facts({ invitation, admins: [ann] })).kind).toBe('none');
    const waiting = { state: 'AWAITING_ADMIN' as const, recipients: [] };
    expect(transition(facts({ invitation: waiting, admins: [bob] }))).toEqual({ kind: 'deliver', recipients: [bob] });
    expect(transition(facts({ invitation: waiting, admins: [] })).kind).toBe('none');
  });

  // Submitted and being validated: an invitation to enroll would ask a late admin for what is done. Sent back for
  // action (ACTION_REQUIRED), it is theirs to complete: delivered then.
  it('delivers nothing to a late admin while the enrollment is submitted and being validated; delivers once it needs action', () => {
    const invitation = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(facts({ invitation, admins: [ann, bob], enrollmentStatus: 'VALIDATING' }))).toMatchObject({ kind: 'none', why: expect.stringContaining('being validated') });
    expect(transition(facts({ invitation, admins: [ann, bob], enrollmentStatus: 'ACTION_REQUIRED' }))).toEqual({ kind: 'deliver', recipients: [bob] });
    // No invitation yet (an open program came to require eligibility after the Submit): none issued while validated.
    expect(transition(facts({ invitation: null, admins: [ann], enrollmentStatus: 'VALIDATING' }))).toMatchObject({ kind: 'none', why: expect.stringContaining('being validated') });
    expect(transition(facts({ invitation: null, admins: [ann], enrollmentStatus: 'ACTION_REQUIRED' }))).toEqual({ kind: 'issue', recipients: [ann] });
    // Waiting again, its admins gone after the Submit: the admin appointed then is not invited to enroll either.
    const waiting = { state: 'AWAITING_ADMIN' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(facts({ invitation: waiting, admins: [bob], enrollmentStatus: 'VALIDATING' }))).toMatchObject({ kind: 'none', why: expect.stringContaining('being validated') });
    expect(transition(facts({ invitation: waiting, admins: [bob], enrollmentStatus: 'ACTION_REQUIRED' }))).toEqual({ kind: 'deliver', recipients: [bob] });
    // Ended for good: Enroll refuses it, nothing to invite to, nor to issue again, nor an admin to ask for.
    expect(transition(facts({ invitation, admins: [ann, bob], enrollmentStatus: 'EXPIRED' })).kind).toBe('none');
    expect(transition(facts({ invitation, admins: [ann, bob], enrollmentStatus: 'DISCONTINUED' })).kind).toBe('none');
    expect(transition(facts({ invitation: { state: 'REVOKED' as const, recipients: [{ userId: 'ann' }] }, admins: [ann], enrollmentStatus: 'EXPIRED' })).kind).toBe('none');
    expect(transition(facts({ invitation, admins: [], enrollmentStatus: 'EXPIRED' })).kind).toBe('none');
  });

  it('waits again when every Incentives admin of an issued invitation left, and delivers to whoever is its admin then', () => {
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(facts({ invitation: issued, admins: [] }))).toEqual({ kind: 'admins-left' });
    // Not while the enrollment is being validated (nothing to invite an appointed admin to): once sent back for action.
    expect(transition(facts({ invitation: issued, admins: [], enrollmentStatus: 'VALIDATING' })).kind).toBe('none');
    expect(transition(facts({ invitation: issued, admins: [], enrollmentStatus: 'ACTION_REQUIRED' }))).toEqual({ kind: 'admins-left' });
    const asking = { state: 'AWAITING_ADMIN' as const, recipients: [], adminRequestPending: true };
    expect(transition(facts({ invitation: asking, admins: [], companyAdmins: [gail], enrollmentStatus: 'VALIDATING' })).kind).toBe('none');
    expect(transition(facts({ invitation: asking, admins: [], companyAdmins: [gail], enrollmentStatus: 'ACTION_REQUIRED' }))).toEqual({ kind: 'ask-admins' });
    // Only while it still invites: not for a closed program, another year, a year that is over, an enrollment.
    expect(transition(facts({ invitation: issued, admins: [], program: { requiresEligibility: true, state: 'CLOSED', fiscalYear: FY } })).kind).toBe('none');
    expect(transition(facts({ invitation: issued, admins: [], program: { requiresEligibility: true, state: 'OPEN', fiscalYear: 'FY28' } })).kind).toBe('none');
    expect(transition(facts({ invitation: issued, admins: [] }), FY27_OVER).kind).toBe('none');
    expect(transition(facts({ invitation: issued, admins: [], enrollmentStatus: 'VALIDATING', enrollmentCompleted: true }))).toEqual({ kind: 'mark-enrolled' });
    expect(transition(facts({ invitation: issued, admins: [], enrollmentContinued: true })).kind).toBe('none');
    // Waiting again (a duplicate of the user event): nothing more.
    const waiting = { state: 'AWAITING_ADMIN' as const, recipients: [{ userId: 'ann' }], adminRequestPending: false };
    expect(transition(facts({ invitation: waiting, admins: [] })).kind).toBe('none');
    // A new admin, or the one it reached before given the role back: delivered to them.
    expect(transition(facts({ invitation: waiting, admins: [bob] }))).toEqual({ kind: 'deliver', recipients: [bob] });
    expect(transition(facts({ invitation: waiting, admins: [ann] }))).toEqual({ kind: 'deliver', recipients: [ann] });
  });

  it('revokes an open invitation when eligibility is lost, once', () => {
    const decision = { eligible: false, reasons: ['Revenue threshold not met'], fiscalYear: FY };
    for (const state of ['ISSUED', 'AWAITING_ADMIN'] as const) {
      expect(transition(facts({ decision, invitation: { state, recipients: [] } }))).toEqual({
        kind: 'revoke',
        reasons: ['Revenue threshold not met'],
      });
    }
    expect(transition(facts({ decision, invitation: { state: 'REVOKED', recipients: [] } })).kind).toBe('none');
    expect(transition(facts({ decision })).kind).toBe('none');
  });

  it('revokes with a general reason when the decision gives none (InvitationRevoked always says why, as EnrollmentIneligible does)', () => {
    const decision = { eligible: false, reasons: [], fiscalYear: FY };
    expect(transition(facts({ decision, invitation: { state: 'ISSUED', recipients: [] } }))).toEqual({
      kind: 'revoke',
      reasons: [`The location is no longer eligible for this program in ${FY}.`],
    });
  });

  it('issues a revoked invitation again when the location becomes eligible again', () => {
    const invitation = { state: 'REVOKED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(facts({ invitation }))).toEqual({ kind: 'issue', recipients: [ann] });
  });

  it('never revokes nor delivers after enrollment, whatever the order of events', () => {
    const ineligible = { eligible: false, reasons: [], fiscalYear: FY };
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(facts({ invitation: issued, enrollmentStatus: 'ENROLLED', decision: ineligible }))).toEqual({ kind: 'mark-enrolled' });
    const revoked = { state: 'REVOKED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(facts({ invitation: revoked, enrollmentStatus: 'ENROLLED' }))).toEqual({ kind: 'mark-enrolled' });
    const enrolled = { state: 'ENROLLED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(facts({ invitation: enrolled, decision: ineligible })).kind).toBe('none');
    expect(transition(facts({ invitation: enrolled, admins: [ann, bob] })).kind).toBe('none');
    expect(transition(facts({ enrollmentStatus: 'ENROLLED' })).kind).toBe('none');
  });

  it('never issues, revokes nor delivers once the enrollment was ENROLLED, also after a profile edit sent it back to validation', () => {
    // ENROLLED seen before any invitation existed (enrolled from the overview, or the decision came late), then
    // VALIDATING after a profile edit: no invitation for an enrolled location.
    const sentBack = { enrollmentStatus: 'VALIDATING' as const, enrollmentCompleted: true };
    expect(transition(facts(sentBack))).toEqual({ kind: 'none', why: 'enrolled' });
    expect(transition(facts({ ...sentBack, enrollmentStatus: 'ACTION_REQUIRED' }))).toEqual({ kind: 'none', why: 'enrolled' });
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(facts({ ...sentBack, invitation: issued }))).toEqual({ kind: 'mark-enrolled' });
    expect(transition(facts({ ...sentBack, invitation: issued, decision: { eligible: false, reasons: [], fiscalYear: FY } }))).toEqual({ kind: 'mark-enrolled' });
    // Never completed: as any enrollment not completed (being validated, nothing issued: it would ask for what is done).
    expect(transition(facts({ enrollmentStatus: 'VALIDATING' })).kind).toBe('none');
    expect(transition(facts({ enrollmentStatus: 'ACTION_REQUIRED' })).kind).toBe('issue');
  });

  it("issues and delivers only in the program's current fiscal year", () => {
    const program = { requiresEligibility: true, state: 'OPEN' as const, fiscalYear: 'FY27' };
    // An FY26 invitation still waiting for an admin when the program is in FY27: the new admin gets nothing.
    const waiting = { state: 'AWAITING_ADMIN' as const, recipients: [] };
    const fy26 = { eligible: true, reasons: [], fiscalYear: 'FY26' };
    expect(transition(facts({ invitation: waiting, decision: fy26, program, admins: [bob] })).kind).toBe('none');
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(facts({ invitation: issued, decision: fy26, program, admins: [ann, bob] })).kind).toBe('none');
    // An FY28 decision while the program is still in FY27 (a location enrolled in FY27 continues without action).
    const fy28 = { eligible: true, reasons: [], fiscalYear: 'FY28' };
    expect(transition(facts({ decision: fy28, program, admins: [ann] })).kind).toBe('none');
    expect(transition(facts({ decision: fy28, program, admins: [] })).kind).toBe('none');
    // An FY27 decision arriving after the program moved to FY28: Enroll would enroll in FY28.
    const moved = { ...program, fiscalYear: 'FY28' };
    expect(transition(facts({ decision: { eligible: true, reasons: [], fiscalYear: 'FY27' }, program: moved })).kind).toBe('none');
    expect(transition(facts({ decision: fy28, program: moved, admins: [ann] }))).toEqual({ kind: 'issue', recipients: [ann] });
    // Losing eligibility still revokes an open invitation of any year.
    const lost = { eligible: false, reasons: ['gone'], fiscalYear: 'FY26' };
    expect(transition(facts({ invitation: issued, decision: lost, program }))).toEqual({ kind: 'revoke', reasons: ['gone'] });
  });

  it('issues and delivers nothing once the fiscal year is over while the program is still in it; revokes and marks enrolled still', () => {
    const justBefore = new Date(FY27_OVER.getTime() - 1);
    // The last instant of FY27 (2027-06-30T23:59:59.999Z) still invites; the first of FY28 no longer does.
    expect(transition(facts(), justBefore)).toEqual({ kind: 'issue', recipients: [ann] });
    expect(transition(facts(), FY27_OVER)).toEqual({ kind: 'none', why: expect.stringContaining('FY27 is over') });
    expect(transition(facts({ admins: [] }), FY27_OVER).kind).toBe('none'); // nobody asked for an admin either
    const revoked = { state: 'REVOKED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(facts({ invitation: revoked }), FY27_OVER).kind).toBe('none'); // not issued again
    // A late admin (delivery, reopening, program reconciliation) gets nothing of FY27.
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    const waiting = { state: 'AWAITING_ADMIN' as const, recipients: [] };
    expect(transition(facts({ invitation: issued, admins: [ann, bob] }), justBefore)).toEqual({ kind: 'deliver', recipients: [bob] });
    expect(transition(facts({ invitation: issued, admins: [ann, bob] }), FY27_OVER).kind).toBe('none');
    expect(transition(facts({ invitation: waiting, admins: [bob] }), FY28_OVER).kind).toBe('none');
    // Losing eligibility still revokes, and an enrollment still marks the invitation enrolled.
    const lost = { eligible: false, reasons: ['gone'], fiscalYear: FY };
    expect(transition(facts({ invitation: issued, decision: lost }), FY27_OVER)).toEqual({ kind: 'revoke', reasons: ['gone'] });
    expect(transition(facts({ invitation: issued, enrollmentStatus: 'ENROLLED' }), FY27_OVER)).toEqual({ kind: 'mark-enrolled' });
    // The program moved to FY28 (which has not started, or is running): its FY28 decision invites as usual.
    const moved = { requiresEligibility: true, state: 'OPEN' as const, fiscalYear: 'FY28' };
    const fy28 = { eligible: true, reasons: [], fiscalYear: 'FY28' };
    expect(transition(facts({ decision: fy28, program: moved }), DURING)).toEqual({ kind: 'issue', recipients: [ann] });
    expect(transition(facts({ decision: fy28, program: moved }), FY27_OVER)).toEqual({ kind: 'issue', recipients: [ann] });
    expect(transition(facts({ decision: fy28, program: moved }), FY28_OVER).kind).toBe('none');
  });

  it('delivers nothing while the program is closed or discontinued, and delivers once it reopens', () => {
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    const waiting = { state: 'AWAITING_ADMIN' as const, recipients: [] };
    for (const state of ['CLOSED', 'DISCONTINUED'] as const) {
      const program = { requiresEligibility: true, state, fiscalYear: FY };
      expect(transition(facts({ invitation: issued, program, admins: [ann, bob] })).kind).toBe('none');
      expect(transition(facts({ invitation: waiting, program, admins: [bob] })).kind).toBe('none');
    }
    expect(transition(facts({ invitation: waiting, admins: [bob] }))).toEqual({ kind: 'deliver', recipients: [bob] });
  });

  it('revokes before enrollment even while the enrollment is in progress', () => {
    const invitation = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    const decision = { eligible: false, reasons: [], fiscalYear: FY };
    expect(transition(facts({ invitation, decision, enrollmentStatus: 'ACTION_REQUIRED' })).kind).toBe('revoke');
  });
});

describe('a location whose enrollment is continued into the new fiscal year', () => {
  const fy28 = { eligible: true, reasons: [], fiscalYear: 'FY28' };
  const program = { requiresEligibility: true, state: 'OPEN' as const, fiscalYear: 'FY28' };
  const moved = (overrides: Partial<InvitationFacts> = {}) => facts({ decision: fy28, program, ...overrides });
  const enrolledFy27 = { status: 'ENROLLED' as const, completed: true };

  it('invites nobody while the previous year\'s enrollment was completed and has not ended', () => {
    expect(transition(moved({ previousYear: enrolledFy27 }))).toEqual({ kind: 'none', why: expect.stringContaining('continued by the rollover') });
    expect(transition(moved({ previousYear: enrolledFy27, admins: [] })).kind).toBe('none');
    // ENROLLED once, sent back to validation by a profile edit (or its revision rejected): still continued.
    for (const status of ['VALIDATING', 'ACTION_REQUIRED', 'INVITED'] as const) {
      expect(transition(moved({ previousYear: { status, completed: true } })).kind).toBe('none');
    }
    // This year's enrollment ended INELIGIBLE before the rollover reached it (invited early, then not eligible): held as an
    // INVITED one is (the rollover continues into it), whichever of the eligible decision and its reopening comes first.
    for (const enrollmentStatus of ['INELIGIBLE', 'INVITED'] as const) {
      expect(transition(moved({ enrollmentStatus, previousYear: enrolledFy27 }))).toEqual({ kind: 'none', why: expect.stringContaining('continued by the rollover') });
    }
    // Nothing delivered to a late admin of an invitation issued before the previous year was completed.
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(moved({ invitation: issued, admins: [ann, bob], previousYear: enrolledFy27 })).kind).toBe('none');
    // Revoking and marking enrolled still apply.
    expect(transition(moved({ invitation: issued, previousYear: enrolledFy27, decision: { ...fy28, eligible: false } })).kind).toBe('revoke');
    expect(transition(moved({ invitation: issued, previousYear: enrolledFy27, enrollmentStatus: 'ENROLLED' })).kind).toBe('mark-enrolled');
  });

  it('invites as before when the previous year\'s enrollment was never completed, or has ended', () => {
    expect(transition(moved({ previousYear: null }))).toEqual({ kind: 'issue', recipients: [ann] });
    for (const status of ['INVITED', 'ACTION_REQUIRED', 'VALIDATING', 'EXPIRED', 'INELIGIBLE'] as const) {
      expect(transition(moved({ previousYear: { status, completed: false } }))).toEqual({ kind: 'issue', recipients: [ann] });
    }
    for (const status of ['EXPIRED', 'INELIGIBLE', 'DISCONTINUED'] as const) {
      expect(transition(moved({ previousYear: { status, completed: true } }))).toEqual({ kind: 'issue', recipients: [ann] });
    }
  });

  it('needs no invitation once the rollover continued the enrollment into the new year, unless it became ineligible', () => {
    for (const status of ['ACTION_REQUIRED', 'VALIDATING'] as const) {
      expect(transition(moved({ enrollmentStatus: status, enrollmentContinued: true })).kind).toBe('none');
      expect(transition(moved({ enrollmentStatus: status, enrollmentContinued: true, previousYear: enrolledFy27 })).kind).toBe('none');
    }
    expect(transition(moved({ enrollmentStatus: 'ENROLLED', enrollmentContinued: true, previousYear: enrolledFy27 })).kind).toBe('none');
    // Enroll starts an INELIGIBLE enrollment again once eligible: the invitation leads there.
    const again = { kind: 'issue', recipients: [ann] };
    expect(transition(moved({ enrollmentStatus: 'INELIGIBLE', enrollmentContinued: true, previousYear: enrolledFy27 }))).toEqual(again);
  });

  it("invites as any year's once Enroll started again a continuation that became ineligible (the previous year's, completed, never ended, holds nothing)", () => {
    // Started again (ACTION_REQUIRED), no longer the rollover's continuation: an admin appointed since is delivered it.
    const restarted = moved({ enrollmentStatus: 'ACTION_REQUIRED', enrollmentMadeByRollover: true, previousYear: enrolledFy27 });
    expect(transition({ ...restarted, invitation: { state: 'ISSUED', recipients: [{ userId: 'ann' }] }, admins: [ann, bob] })).toEqual({ kind: 'deliver', recipients: [bob] });
    // Ineligible again, then eligible: issued again.
    expect(transition(moved({ enrollmentStatus: 'INELIGIBLE', enrollmentMadeByRollover: true, previousYear: enrolledFy27 }))).toEqual({ kind: 'issue', recipients: [ann] });
    // Never made by the rollover: the previous year's still holds it (the rollover will continue it).
    expect(transition(moved({ enrollmentStatus: 'ACTION_REQUIRED', previousYear: enrolledFy27 })).kind).toBe('none');
  });

  it('issues again an invitation marked ENROLLED whose renewal was undone at year end (INELIGIBLE, no longer completed)', () => {
    const enrolled = { state: 'ENROLLED' as const, recipients: [{ userId: 'ann' }] };
    const undone = moved({ invitation: enrolled, enrollmentStatus: 'INELIGIBLE', enrollmentContinued: true, previousYear: { status: 'EXPIRED', completed: true } });
    expect(transition({ ...undone, admins: [ann, bob] })).toEqual({ kind: 'issue', recipients: [ann, bob] });
    expect(transition({ ...undone, admins: [] })).toEqual({ kind: 'await-admin' });
    // Not eligible: revoked (its notices would invite to an Enroll that refuses).
    expect(transition({ ...undone, decision: { ...fy28, eligible: false, reasons: ['no'] } })).toEqual({ kind: 'revoke', reasons: ['no'] });
    // Still completed (an event of a producer before `completed`): enrolled for good, as before.
    expect(transition({ ...undone, enrollmentCompleted: true })).toEqual({ kind: 'none', why: 'enrolled' });
    expect(transition({ ...undone, enrollmentCompleted: true, decision: { ...fy28, eligible: false } })).toEqual({ kind: 'none', why: 'enrolled' });
  });

  it('does not invite again on a decision not later than the one that ended the enrollment INELIGIBLE; a later one does', () => {
    const endedBy = { eventId: 'decision-2', decidedAt: new Date('2027-07-01T08:00:00Z') };
    const ended = { enrollmentStatus: 'INELIGIBLE' as const, enrollmentEndedBy: endedBy, previousYear: { status: 'EXPIRED' as const, completed: true } };
    // An eligible decision the enrollment service had seen replaced (the ineligible one still on its way here).
    const older = { ...fy28, eventId: 'decision-1', decidedAt: new Date('2027-05-01T00:00:00Z') };
    expect(transition(moved({ ...ended, decision: older }))).toEqual({ kind: 'none', why: expect.stringContaining('a later decision invites again') });
    const enrolled = { state: 'ENROLLED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(moved({ ...ended, decision: older, invitation: enrolled })).kind).toBe('none');
    const revoked = { state: 'REVOKED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(moved({ ...ended, decision: older, invitation: revoked })).kind).toBe('none');
    // A later one invites, whichever arrived first here (also one made at the same instant); none named: no wait.
    const later = { ...fy28, eventId: 'decision-3', decidedAt: new Date('2027-07-02T00:00:00Z') };
    expect(transition(moved({ ...ended, decision: later }))).toEqual({ kind: 'issue', recipients: [ann] });
    expect(transition(moved({ ...ended, decision: later, invitation: enrolled })).kind).toBe('issue');
    expect(transition(moved({ ...ended, decision: { ...later, decidedAt: endedBy.decidedAt } })).kind).toBe('issue');
    // Started again by Enroll (no longer INELIGIBLE) before the later decision arrived: still waits for it.
    expect(transition(moved({ ...ended, enrollmentStatus: 'ACTION_REQUIRED', decision: older })).kind).toBe('none');
    expect(transition(moved({ ...ended, enrollmentStatus: 'ACTION_REQUIRED', decision: later })).kind).toBe('issue');
    expect(transition(moved({ ...ended, enrollmentEndedBy: null, decision: older }))).toEqual({ kind: 'issue', recipients: [ann] });
    expect(transition(moved({ ...ended, enrollmentEndedBy: undefined, decision: older }))).toEqual({ kind: 'issue', recipients: [ann] });
  });

  it('of two decisions made at the same instant, takes the one read later as the later, where both positions tell', () => {
    const at = new Date('2027-07-01T08:00:00Z');
    const endedBy = { eventId: 'ineligible', decidedAt: at, position: { partition: 1, offset: '120' } };
    const ended = { enrollmentStatus: 'INELIGIBLE' as const, enrollmentEndedBy: endedBy, previousYear: { status: 'EXPIRED' as const, completed: true } };
    const eligibleAt = (position?: { partition: number; offset: string }) => ({ ...fy28, eventId: 'eligible', decidedAt: at, ...(position && { position }) });
    // Read before the one that ended the enrollment (which is still on its way here): issued, it would be revoked at once.
    expect(transition(moved({ ...ended, decision: eligibleAt({ partition: 1, offset: '119' }) }))).toEqual({
      kind: 'none',
      why: expect.stringContaining('a later decision invites again'),
    });
    // Read after it: eligible again.
    expect(transition(moved({ ...ended, decision: eligibleAt({ partition: 1, offset: '121' }) }))).toEqual({ kind: 'issue', recipients: [ann] });
    // Positions that do not tell (another partition: the topic repartitioned; none kept): counted later, as before.
    expect(transition(moved({ ...ended, decision: eligibleAt({ partition: 2, offset: '119' }) })).kind).toBe('issue');
    expect(transition(moved({ ...ended, decision: eligibleAt() })).kind).toBe('issue');
  });

  it('names the decision behind a revocation with where it was read', () => {
    const position = { partition: 1, offset: '7' };
    const decision = { ...fy28, eligible: false, reasons: ['no'], eventId: 'ineligible', decidedAt: new Date('2027-07-01T08:00:00Z'), position };
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(transition(moved({ decision, invitation: issued }))).toEqual({
      kind: 'revoke',
      reasons: ['no'],
      decision: { eventId: 'ineligible', decidedAt: decision.decidedAt, position },
    });
  });
});

describe('invitationsMovedBy', () => {
  const FY28 = 'FY28';
  const previousYears: Array<InvitationFacts['previousYear']> = [
    null,
    ...EnrollmentStatuses.flatMap((status) => [true, false].map((completed) => ({ status, completed }))),
  ];
  // Every combination of the other facts, so that a rule added later that reads another fact fails here.
  const others: InvitationFacts[] = [];
  for (const invitation of [null, ...InvitationStates.map((state) => ({ state, recipients: [{ userId: 'ann' }] }))])
    for (const decision of [null, { eligible: true, reasons: [], fiscalYear: FY }, { eligible: false, reasons: ['no'], fiscalYear: FY }])
      for (const program of [
        null,
        ...ProgramStates.flatMap((state) =>
          [true, false].flatMap((requiresEligibility) => [FY, FY28].map((fiscalYear) => ({ requiresEligibility, state, fiscalYear }))),
        ),
      ])
        for (const admins of [[], [ann], [ann, bob]])
          for (const locationKnown of [true, false])
            for (const enrollmentContinued of [false, true])
              others.push({ invitation, decision, program, admins, enrollmentStatus: null, enrollmentContinued, locationKnown });
  // At a date in FY27, and once FY27, then FY28, are over: the claim must hold whatever the date.
  const dates = [DURING, FY27_OVER, FY28_OVER];
  const settled = (known: InvitationFacts, now: Date) => transition(known, now).kind === 'none';
  const statuses: Array<EnrollmentStatus | undefined> = [undefined, ...EnrollmentStatuses];

  it("skips only changes of an invitation's own enrollment that leave a settled invitation settled, whatever else is known", () => {
    let skipped = 0;
    const unsettled: string[] = [];
    for (const previousStatus of statuses)
      for (const status of EnrollmentStatuses)
        for (const completed of [true, false]) {
          if (invitationsMovedBy({ status, previousStatus }, { completed }).own) continue;
          skipped += 1;
          for (const now of dates)
            for (const known of others)
              for (const previousYear of [null, { status: 'ENROLLED' as const, completed: true }]) {
                const before = { ...known, previousYear, enrollmentStatus: previousStatus ?? null };
                const after = transition({ ...before, enrollmentStatus: status }, now);
                if (settled(before, now) && after.kind !== 'none') unsettled.push(`${previousStatus} -> ${status}: ${after.kind}`);
              }
        }
    expect([...new Set(unsettled)]).toEqual([]);
    // Started, Action required, Validating...: most changes skip the reconcile.
    expect(skipped).toBeGreaterThan(EnrollmentStatuses.length * 3);
  });

  it("skips only changes of the previous year's enrollment that leave the next year's settled invitation settled", () => {
    const withPrevious = (previousYear: InvitationFacts['previousYear']) =>
      others.filter((known) => known.program?.fiscalYear === FY28 || known.program === null).map((known) => ({
        ...known,
        decision: known.decision && { ...known.decision, fiscalYear: FY28 },
        previousYear,
      }));
    let skipped = 0;
    const unsettled: string[] = [];
    for (const before of previousYears)
      for (const after of previousYears) {
        // A change of the view: statuses move by events; `completed` is never taken back.
        if (!after || (before?.completed && !after.completed)) continue;
        const change = { status: after.status, previousStatus: before?.status };
        if (invitationsMovedBy(change, { completed: after.completed }).nextYear) continue;
        skipped += 1;
        for (const now of dates)
          for (const known of withPrevious(before)) {
            const next = transition({ ...known, previousYear: after }, now);
            if (settled(known, now) && next.kind !== 'none') unsettled.push(`${JSON.stringify(before)} -> ${JSON.stringify(after)}: ${next.kind}`);
          }
      }
    expect([...new Set(unsettled)]).toEqual([]);
    expect(skipped).toBeGreaterThan(previousYears.length * 3);
  });

  it('reconciles the own invitation into and out of ENROLLED, into INELIGIBLE and from VALIDATING to ACTION_REQUIRED; the next year\'s when a completed enrollment ends', () => {
    const moves = (status: EnrollmentStatus, previousStatus?: EnrollmentStatus, completed = false) =>
      invitationsMovedBy({ status, previousStatus }, { completed });
    expect(moves('ENROLLED', 'VALIDATING')).toEqual({ own: true, nextYear: false });
    expect(moves('ENROLLED')).toEqual({ own: true, nextYear: false });
    expect(moves('VALIDATING', 'ENROLLED', true)).toEqual({ own: true, nextYear: false });
    expect(moves('INELIGIBLE', 'ACTION_REQUIRED')).toEqual({ own: true, nextYear: false });
    expect(moves('ACTION_REQUIRED')).toEqual({ own: false, nextYear: false });
    expect(moves('VALIDATING', 'ACTION_REQUIRED')).toEqual({ own: false, nextYear: false });
    // Sent back for action: a late admin's delivery, held while it was being validated, is due.
    expect(moves('ACTION_REQUIRED', 'VALIDATING')).toEqual({ own: true, nextYear: false });
    // The rollover: a completed enrollment that is not continued expires; an unfinished one held nothing.
    expect(moves('EXPIRED', 'ENROLLED', true)).toEqual({ own: true, nextYear: true });
    expect(moves('EXPIRED', 'VALIDATING', true)).toEqual({ own: false, nextYear: true });
    expect(moves('EXPIRED', 'ACTION_REQUIRED', false)).toEqual({ own: false, nextYear: false });
    expect(moves('DISCONTINUED', 'VALIDATING', true)).toEqual({ own: false, nextYear: true });
  });

  it('entering ENROLLED does move an invitation', () => {
    const known = { ...others[0], invitation: { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] } };
    expect(transition({ ...known, enrollmentStatus: 'ENROLLED' })).toEqual({ kind: 'mark-enrolled' });
  });
});

describe('whyNotInviting', () => {
  it('says why: program state first, then another year, then a year that is over', () => {
    const program = { state: 'OPEN' as const, fiscalYear: 'FY27' };
    expect(whyNotInviting({ fiscalYear: 'FY27' }, program, DURING)).toBeNull();
    expect(whyNotInviting({ fiscalYear: 'FY27' }, program, FY27_OVER)).toBe(
      'FY27 is over and the program has not moved to FY28 yet (Enroll refuses a year that is over): nothing issued or delivered',
    );
    expect(whyNotInviting({ fiscalYear: 'FY27' }, { ...program, state: 'CLOSED' }, FY27_OVER)).toMatch(/program is CLOSED/);
    expect(whyNotInviting({ fiscalYear: 'FY26' }, program, FY27_OVER)).toMatch(/FY26 is not the program's current fiscal year/);
    // A program moved early to a year that has not started yet invites (Enroll accepts it).
    expect(whyNotInviting({ fiscalYear: 'FY28' }, { ...program, fiscalYear: 'FY28' }, DURING)).toBeNull();
  });
});
