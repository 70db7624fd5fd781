import { InvitationFacts, nextTransition, Person } from './invitation-rules';

const ann: Person = { userId: 'ann', email: 'ann@example.com', displayName: 'Ann' };
const bob: Person = { userId: 'bob', email: 'bob@example.com', displayName: 'Bob' };

function facts(overrides: Partial<InvitationFacts> = {}): InvitationFacts {
  return {
    invitation: null,
    decision: { eligible: true, reasons: [] },
    program: { requiresEligibility: true, state: 'OPEN' },
    enrollmentStatus: null,
    admins: [ann],
    ...overrides,
  };
}

describe('nextTransition', () => {
  it('issues to the admins of an eligible location', () => {
    expect(nextTransition(facts({ admins: [ann, bob] }))).toEqual({ kind: 'issue', recipients: [ann, bob] });
  });

  it('waits for an admin when the location has none', () => {
    expect(nextTransition(facts({ admins: [] }))).toEqual({ kind: 'await-admin' });
  });

  it('remembers a decision until the program is known', () => {
    expect(nextTransition(facts({ program: null })).kind).toBe('none');
  });

  it('never invites to an open program', () => {
    expect(nextTransition(facts({ program: { requiresEligibility: false, state: 'OPEN' } })).kind).toBe('none');
  });

  it('issues nothing new for a closed or discontinued program', () => {
    expect(nextTransition(facts({ program: { requiresEligibility: true, state: 'CLOSED' } })).kind).toBe('none');
    expect(nextTransition(facts({ program: { requiresEligibility: true, state: 'DISCONTINUED' } })).kind).toBe('none');
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
    const decision = { eligible: false, reasons: ['Revenue threshold not met'] };
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
    const ineligible = { eligible: false, reasons: [] };
    const issued = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    expect(nextTransition(facts({ invitation: issued, enrollmentStatus: 'ENROLLED', decision: ineligible }))).toEqual({ kind: 'mark-enrolled' });
    const revoked = { state: 'REVOKED' as const, recipients: [{ userId: 'ann' }] };
    expect(nextTransition(facts({ invitation: revoked, enrollmentStatus: 'ENROLLED' }))).toEqual({ kind: 'mark-enrolled' });
    const enrolled = { state: 'ENROLLED' as const, recipients: [{ userId: 'ann' }] };
    expect(nextTransition(facts({ invitation: enrolled, decision: ineligible })).kind).toBe('none');
    expect(nextTransition(facts({ invitation: enrolled, admins: [ann, bob] })).kind).toBe('none');
    expect(nextTransition(facts({ enrollmentStatus: 'ENROLLED' })).kind).toBe('none');
  });

  it('revokes before enrollment even while the enrollment is in progress', () => {
    const invitation = { state: 'ISSUED' as const, recipients: [{ userId: 'ann' }] };
    const decision = { eligible: false, reasons: [] };
    expect(nextTransition(facts({ invitation, decision, enrollmentStatus: 'ACTION_REQUIRED' })).kind).toBe('revoke');
  });
});
