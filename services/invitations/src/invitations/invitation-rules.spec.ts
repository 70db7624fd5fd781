import { EnrollmentStatuses, ProgramStates } from '@lib/contracts';
import { InvitationStates } from './invitation.schema';
import { enrollmentChangeMovesInvitation, InvitationFacts, nextTransition, Person } from './invitation-rules';

const FY = 'FY27';
const ann: Person = { userId: 'ann', email: 'ann@example.com', displayName: 'Ann' };
const bob: Person = { userId: 'bob', email: 'bob@example.com', displayName: 'Bob' };

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
    expect(nextTransition(facts({ admins: [ann, bob] }))).toEqual({ kind: 'issue', recipients: [ann, bob] });
  });

  it("invites nobody, and asks nobody for an admin, until the location is known as the decision's partner's", () => {
    expect(nextTransition(facts({ locationKnown: false }))).toEqual({ kind: 'none', why: expect.stringContaining('location not known') });
    expect(nextTransition(facts({ locationKnown: false, admins: [] }))).toEqual(expect.objectContaining({ kind: 'none' }));
    // Revoking does not wait: nothing is sent to anyone new.
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(nextTransition(facts({ locationKnown: false, invitation: issued, decision: { eligible: false, reasons: ['no'], fiscalYear: FY } }))).toEqual({ kind: 'revoke', reasons: ['no'] });
  });

  it('waits for an admin when the location has none', () => {
    expect(nextTransition(facts({ admins: [] }))).toEqual({ kind: 'await-admin' });
  });

  it('remembers a decision until the program is known', () => {
    expect(nextTransition(facts({ program: null })).kind).toBe('none');
  });

  it('never invites to an open program', () => {
    expect(nextTransition(facts({ program: { requiresEligibility: false, state: 'OPEN', fiscalYear: FY } })).kind).toBe('none');
  });

  it('issues nothing new for a closed or discontinued program', () => {
    expect(nextTransition(facts({ program: { requiresEligibility: true, state: 'CLOSED', fiscalYear: FY } })).kind).toBe('none');
    expect(nextTransition(facts({ program: { requiresEligibility: true, state: 'DISCONTINUED', fiscalYear: FY } })).kind).toBe('none');
  });

  it('delivers an open invitation to admins who do not have it, and only to them', () => {
    const invitation = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(nextTransition(facts({ invitation, admins: [ann, bob] }))).toEqual({ kind: 'deliver', recipients: [bob] });
    expect(nextTransition(facts({ invitation, admins: [ann] })).kind).toBe('none');
    const waiting = { state: 'AWAITING_ADMIN' as const, recipients: [] };
    expect(nextTransition(facts({ invitation: waiting, admins: [bob] }))).toEqual({ kind: 'deliver', recipients: [bob] });
    expect(nextTransition(facts({ invitation: waiting, admins: [] })).kind).toBe('none');
  });

  it('revokes an open invitation when eligibility is lost, once', () => {
    const decision = { eligible: false, reasons: ['Revenue threshold not met'], fiscalYear: FY };
    for (const state of ['ISSUED', 'AWAITING_ADMIN'] as const) {
      expect(nextTransition(facts({ decision, invitation: { state, recipients: [] } }))).toEqual({
        kind: 'revoke',
        reasons: ['Revenue threshold not met'],
      });
    }
    expect(nextTransition(facts({ decision, invitation: { state: 'REVOKED', recipients: [] } })).kind).toBe('none');
    expect(nextTransition(facts({ decision })).kind).toBe('none');
  });

  it('issues a revoked invitation again when the location becomes eligible again', () => {
    const invitation = { state: 'REVOKED' as const, recipients: [{ userId: 'ann' }] };
    expect(nextTransition(facts({ invitation }))).toEqual({ kind: 'issue', recipients: [ann] });
  });

  it('never revokes nor delivers after enrollment, whatever the order of events', () => {
    const ineligible = { eligible: false, reasons: [], fiscalYear: FY };
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(nextTransition(facts({ invitation: issued, enrollmentStatus: 'ENROLLED', decision: ineligible }))).toEqual({ kind: 'mark-enrolled' });
    const revoked = { state: 'REVOKED' as const, recipients: [{ userId: 'ann' }] };
    expect(nextTransition(facts({ invitation: revoked, enrollmentStatus: 'ENROLLED' }))).toEqual({ kind: 'mark-enrolled' });
    const enrolled = { state: 'ENROLLED' as const, recipients: [{ userId: 'ann' }] };
    expect(nextTransition(facts({ invitation: enrolled, decision: ineligible })).kind).toBe('none');
    expect(nextTransition(facts({ invitation: enrolled, admins: [ann, bob] })).kind).toBe('none');
    expect(nextTransition(facts({ enrollmentStatus: 'ENROLLED' })).kind).toBe('none');
  });

  it("issues and delivers only in the program's current fiscal year", () => {
    const program = { requiresEligibility: true, state: 'OPEN' as const, fiscalYear: 'FY27' };
    // An FY26 invitation still waiting for an admin when the program is in FY27: the new admin gets nothing.
    const waiting = { state: 'AWAITING_ADMIN' as const, recipients: [] };
    const fy26 = { eligible: true, reasons: [], fiscalYear: 'FY26' };
    expect(nextTransition(facts({ invitation: waiting, decision: fy26, program, admins: [bob] })).kind).toBe('none');
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(nextTransition(facts({ invitation: issued, decision: fy26, program, admins: [ann, bob] })).kind).toBe('none');
    // An FY28 decision while the program is still in FY27 (a location enrolled in FY27 continues without action).
    const fy28 = { eligible: true, reasons: [], fiscalYear: 'FY28' };
    expect(nextTransition(facts({ decision: fy28, program, admins: [ann] })).kind).toBe('none');
    expect(nextTransition(facts({ decision: fy28, program, admins: [] })).kind).toBe('none');
    // An FY27 decision arriving after the program moved to FY28: Enroll would enroll in FY28.
    const moved = { ...program, fiscalYear: 'FY28' };
    expect(nextTransition(facts({ decision: { eligible: true, reasons: [], fiscalYear: 'FY27' }, program: moved })).kind).toBe('none');
    expect(nextTransition(facts({ decision: fy28, program: moved, admins: [ann] }))).toEqual({ kind: 'issue', recipients: [ann] });
    // Losing eligibility still revokes an open invitation of any year.
    const lost = { eligible: false, reasons: ['gone'], fiscalYear: 'FY26' };
    expect(nextTransition(facts({ invitation: issued, decision: lost, program }))).toEqual({ kind: 'revoke', reasons: ['gone'] });
  });

  it('delivers nothing while the program is closed or discontinued, and delivers once it reopens', () => {
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    const waiting = { state: 'AWAITING_ADMIN' as const, recipients: [] };
    for (const state of ['CLOSED', 'DISCONTINUED'] as const) {
      const program = { requiresEligibility: true, state, fiscalYear: FY };
      expect(nextTransition(facts({ invitation: issued, program, admins: [ann, bob] })).kind).toBe('none');
      expect(nextTransition(facts({ invitation: waiting, program, admins: [bob] })).kind).toBe('none');
    }
    expect(nextTransition(facts({ invitation: waiting, admins: [bob] }))).toEqual({ kind: 'deliver', recipients: [bob] });
  });

  it('revokes before enrollment even while the enrollment is in progress', () => {
    const invitation = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    const decision = { eligible: false, reasons: [], fiscalYear: FY };
    expect(nextTransition(facts({ invitation, decision, enrollmentStatus: 'ACTION_REQUIRED' })).kind).toBe('revoke');
  });
});

describe('enrollmentChangeMovesInvitation', () => {
  // Every combination of the other facts, so that a rule added later that reads another status fails here.
  const others: InvitationFacts[] = [];
  for (const invitation of [null, ...InvitationStates.map((state) => ({ state, recipients: [{ userId: 'ann' }] }))])
    for (const decision of [null, { eligible: true, reasons: [], fiscalYear: FY }, { eligible: false, reasons: ['no'], fiscalYear: FY }])
      for (const program of [
        null,
        ...ProgramStates.flatMap((state) =>
          [true, false].flatMap((requiresEligibility) => [FY, 'FY28'].map((fiscalYear) => ({ requiresEligibility, state, fiscalYear }))),
        ),
      ])
        for (const admins of [[], [ann], [ann, bob]])
          for (const locationKnown of [true, false]) others.push({ invitation, decision, program, admins, enrollmentStatus: null, locationKnown });

  it('is false only for changes that cannot alter the next transition, whatever else is known', () => {
    const statuses = [undefined, ...EnrollmentStatuses];
    let skipped = 0;
    for (const previousStatus of statuses)
      for (const status of EnrollmentStatuses) {
        if (enrollmentChangeMovesInvitation({ status, previousStatus })) continue;
        skipped += 1;
        for (const known of others) {
          expect(nextTransition({ ...known, enrollmentStatus: status })).toEqual(nextTransition({ ...known, enrollmentStatus: previousStatus ?? null }));
        }
      }
    // Started, Action required, Validating...: most changes skip the reconcile.
    expect(skipped).toBeGreaterThan(EnrollmentStatuses.length * 3);
  });

  it('is true for entering and for leaving ENROLLED', () => {
    expect(enrollmentChangeMovesInvitation({ status: 'ENROLLED', previousStatus: 'VALIDATING' })).toBe(true);
    expect(enrollmentChangeMovesInvitation({ status: 'ENROLLED' })).toBe(true);
    expect(enrollmentChangeMovesInvitation({ status: 'VALIDATING', previousStatus: 'ENROLLED' })).toBe(true);
    expect(enrollmentChangeMovesInvitation({ status: 'ACTION_REQUIRED' })).toBe(false);
    expect(enrollmentChangeMovesInvitation({ status: 'VALIDATING', previousStatus: 'ACTION_REQUIRED' })).toBe(false);
  });

  it('entering ENROLLED does move an invitation', () => {
    const known = { ...others[0], invitation: { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] } };
    expect(nextTransition({ ...known, enrollmentStatus: 'ENROLLED' })).toEqual({ kind: 'mark-enrolled' });
  });
});
