import { withdrawalOf } from './invitation-progress.repository';

const at = (iso: string) => new Date(iso);
const invitationEmail = (occurredAt: string, causationEventType = 'InvitationIssued') => ({
  partnerId: 'p-1',
  causationEventType,
  invitation: { invitationId: 'inv-1', occurredAt: at(occurredAt) },
});

describe('withdrawalOf', () => {
  it('withdraws an invitation revoked after the event that caused the email, not one revoked before (an earlier cycle)', () => {
    const progress = { partnerId: 'p-1', revokedAt: at('2026-07-02T10:00:00.000Z') };
    expect(withdrawalOf(invitationEmail('2026-07-02T09:00:00.000Z'), progress)).toBe('invitation revoked before delivery');
    expect(withdrawalOf(invitationEmail('2026-07-02T09:00:00.000Z', 'InvitationDelivered'), progress)).toBe('invitation revoked before delivery');
    expect(withdrawalOf(invitationEmail('2026-07-02T11:00:00.000Z'), progress)).toBeNull();
    expect(withdrawalOf(invitationEmail('2026-07-02T10:00:00.000Z'), progress)).toBeNull();
  });

  it('never withdraws an invitation email because the invitation was delivered (to others, or again)', () => {
    expect(withdrawalOf(invitationEmail('2026-07-02T09:00:00.000Z'), { partnerId: 'p-1', deliveredAt: at('2026-07-02T10:00:00.000Z') })).toBeNull();
  });

  it('withdraws an admin-needed email once the invitation reached an admin, or was revoked, after the request', () => {
    const request = invitationEmail('2026-07-02T09:00:00.000Z', 'AdminAssignmentRequested');
    expect(withdrawalOf(request, { partnerId: 'p-1', deliveredAt: at('2026-07-02T10:00:00.000Z') })).toMatch(/Incentives admin was assigned/);
    expect(withdrawalOf(request, { partnerId: 'p-1', revokedAt: at('2026-07-02T10:00:00.000Z') })).toBe('invitation revoked before delivery');
    // Delivered before the request (its admins left since, and it waits again): the request stands.
    expect(withdrawalOf(request, { partnerId: 'p-1', deliveredAt: at('2026-07-02T08:00:00.000Z') })).toBeNull();
  });

  it('orders by the invitation`s versions when the email`s event and the milestone both have one, whatever the times say', () => {
    const versioned = (occurredAt: string, version: number, causationEventType = 'InvitationIssued') => ({
      ...invitationEmail(occurredAt, causationEventType),
      invitation: { invitationId: 'inv-1', occurredAt: at(occurredAt), version },
    });
    // Issued again (version 3) by an instance whose clock is behind the one that revoked it (version 2): still sent.
    const revoked = { partnerId: 'p-1', revokedAt: at('2026-07-02T10:00:00.000Z'), revokedVersion: 2 };
    expect(withdrawalOf(versioned('2026-07-02T09:59:00.000Z', 3), revoked)).toBeNull();
    // The first issue (version 1), however late its clock said it was: revoked after it.
    expect(withdrawalOf(versioned('2026-07-02T10:30:00.000Z', 1), revoked)).toBe('invitation revoked before delivery');
    // A request (version 4), delivered to an admin at version 5 by a clock behind: withdrawn; delivered at 3: not.
    const request = versioned('2026-07-02T11:00:00.000Z', 4, 'AdminAssignmentRequested');
    expect(withdrawalOf(request, { partnerId: 'p-1', deliveredAt: at('2026-07-02T10:00:00.000Z'), deliveredVersion: 5 })).toMatch(/Incentives admin was assigned/);
    expect(withdrawalOf(request, { partnerId: 'p-1', deliveredAt: at('2026-07-02T12:00:00.000Z'), deliveredVersion: 3 })).toBeNull();
    // An email from before versions (none on its event): times decide.
    expect(withdrawalOf(invitationEmail('2026-07-02T09:00:00.000Z'), revoked)).toBe('invitation revoked before delivery');
    // A revocation from before versions (no revokedVersion): times decide.
    expect(withdrawalOf(versioned('2026-07-02T09:00:00.000Z', 3), { partnerId: 'p-1', revokedAt: at('2026-07-02T10:00:00.000Z') })).toBe(
      'invitation revoked before delivery',
    );
  });

  it('withdraws an invitation or admin-needed email once its program closed after the decision, was discontinued, or moved past its year', () => {
    // Decided under the program's revision 2.
    const email = (causationEventType: string) => ({
      partnerId: 'p-1',
      causationEventType,
      invitation: { invitationId: 'inv-1', occurredAt: at('2026-07-02T09:00:00.000Z'), programId: 'prog-1', fiscalYear: 'FY27', programRevision: 2 },
    });
    const view = (state: 'OPEN' | 'CLOSED' | 'DISCONTINUED', revision: number, fiscalYear = 'FY27') => ({ state, fiscalYear, revision, changedAt: at('2026-07-02T08:00:00.000Z') });
    for (const type of ['InvitationIssued', 'InvitationDelivered', 'AdminAssignmentRequested']) {
      // Closed by a later revision than the one decided by: whatever the clocks said.
      expect(withdrawalOf(email(type), null, view('CLOSED', 3))).toBe('program CLOSED before delivery');
      // Discontinued and moved on are for good, whichever revision this service holds.
      expect(withdrawalOf(email(type), null, view('DISCONTINUED', 1))).toBe('program DISCONTINUED before delivery');
      expect(withdrawalOf(email(type), null, view('OPEN', 1, 'FY28'))).toBe('program moved to FY28 before delivery');
      expect(withdrawalOf(email(type), { partnerId: 'p-1' }, view('OPEN', 5))).toBeNull();
      // This service's view behind the invitations service's (closed at revision 1, reopened at 2, unseen here), or
      // still in the year before the invitation's (moved since, unseen here): nothing withdrawn.
      expect(withdrawalOf(email(type), null, view('CLOSED', 1))).toBeNull();
      expect(withdrawalOf(email(type), null, view('CLOSED', 2))).toBeNull();
      expect(withdrawalOf(email(type), null, view('OPEN', 1, 'FY26'))).toBeNull();
      // No snapshot of the program here: not checked so.
      expect(withdrawalOf(email(type), null, null)).toBeNull();
    }
  });

  it('compares by time when the event does not say which revision it was decided by (written before it did)', () => {
    const email = { partnerId: 'p-1', causationEventType: 'InvitationIssued', invitation: { invitationId: 'inv-1', occurredAt: at('2026-07-02T09:00:00.000Z'), programId: 'prog-1', fiscalYear: 'FY27' } };
    const closed = (changedAt?: Date) => ({ state: 'CLOSED' as const, fiscalYear: 'FY27', revision: 2, ...(changedAt && { changedAt }) });
    expect(withdrawalOf(email, null, closed(at('2026-07-02T10:00:00.000Z')))).toBe('program CLOSED before delivery');
    expect(withdrawalOf(email, null, closed(at('2026-07-02T08:00:00.000Z')))).toBeNull();
    expect(withdrawalOf(email, null, closed())).toBe('program CLOSED before delivery');
    // Written before `invitation` named its year: the year is not checked.
    const older = { ...email, invitation: { invitationId: 'inv-1', occurredAt: at('2026-07-02T09:00:00.000Z') } };
    expect(withdrawalOf(older, null, { state: 'OPEN', fiscalYear: 'FY28', revision: 2 })).toBeNull();
  });

  it('leaves alone emails without an invitation, invitations it knows nothing of, and another partner`s record', () => {
    expect(withdrawalOf({ partnerId: 'p-1', causationEventType: 'EnrollmentEnrolled' }, { partnerId: 'p-1', revokedAt: at('2030-01-01T00:00:00Z') })).toBeNull();
    expect(withdrawalOf(invitationEmail('2026-07-02T09:00:00.000Z'), null)).toBeNull();
    expect(withdrawalOf(invitationEmail('2026-07-02T09:00:00.000Z'), { partnerId: 'p-2', revokedAt: at('2026-07-02T10:00:00.000Z') })).toBeNull();
  });
});
