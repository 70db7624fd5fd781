import { noticeMessage, noticeStatus } from './notice-rules';

/** A date in FY27, and the first instant after it. */
const DURING = new Date('2026-12-01T12:00:00.000Z');
const FY27_OVER = new Date('2027-07-01T00:00:00.000Z');
const admin = { userId: 'ann', partnerId: 'P1', roles: [{ role: 'INCENTIVES_ADMIN' as const, locationIds: ['L1'] }] };
const program = { state: 'OPEN' as const, fiscalYear: 'FY27' };
const invitation = {
  partnerId: 'P1',
  locationId: 'L1',
  fiscalYear: 'FY27',
  state: 'ISSUED' as const,
  recipients: [{ userId: 'ann' }, { userId: 'bob', selectedAt: new Date() }],
  pendingNotices: ['ann'],
};

describe('noticeStatus', () => {
  it('is pending for a recipient admin until selected, then selected', () => {
    expect(noticeStatus(invitation, program, admin, DURING)).toBe('pending');
    expect(noticeStatus(invitation, program, { ...admin, userId: 'bob' }, DURING)).toBe('selected');
  });

  it('is none once its enrollment ended for good while the year still runs (expired early by an operator, discontinued); other statuses keep it', () => {
    expect(noticeStatus(invitation, program, admin, DURING, { status: 'EXPIRED' })).toBe('none');
    expect(noticeStatus(invitation, program, admin, DURING, { status: 'DISCONTINUED' })).toBe('none'); // before the program's own event
    expect(noticeStatus(invitation, program, admin, DURING, { status: 'ACTION_REQUIRED' })).toBe('pending');
    expect(noticeStatus(invitation, program, admin, DURING, null)).toBe('pending');
  });

  it('is none for someone who is not a recipient', () => {
    expect(noticeStatus(invitation, program, { ...admin, userId: 'carl' }, DURING)).toBe('none');
  });

  it('is none for another partner, even with the same ids', () => {
    expect(noticeStatus(invitation, program, { ...admin, partnerId: 'P2' }, DURING)).toBe('none');
  });

  it('is none once the recipient no longer holds the Incentives admin role on the location', () => {
    expect(noticeStatus(invitation, program, { ...admin, roles: [{ role: 'INCENTIVES_USER', locationIds: ['L1'] }] }, DURING)).toBe('none');
    expect(noticeStatus(invitation, program, { ...admin, roles: [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }] }, DURING)).toBe('pending');
  });

  it('is none for a revoked or waiting invitation', () => {
    expect(noticeStatus({ ...invitation, state: 'REVOKED' }, program, admin, DURING)).toBe('none');
    expect(noticeStatus({ ...invitation, state: 'AWAITING_ADMIN' }, program, admin, DURING)).toBe('none');
    expect(noticeStatus({ ...invitation, state: 'ENROLLED' }, program, admin, DURING)).toBe('pending');
  });

  it('is none once a revocation removed it, also when the invitation was marked ENROLLED after it', () => {
    const removed = { ...invitation, pendingNotices: [] };
    expect(noticeStatus({ ...removed, state: 'ENROLLED' }, program, admin, DURING)).toBe('none');
    expect(noticeStatus({ ...removed, state: 'ENROLLED' }, program, { ...admin, userId: 'bob' }, DURING)).toBe('selected');
  });

  it('is none while the program is not OPEN, and again pending once it reopens', () => {
    expect(noticeStatus(invitation, { ...program, state: 'CLOSED' }, admin, DURING)).toBe('none');
    expect(noticeStatus(invitation, { ...program, state: 'DISCONTINUED' }, admin, DURING)).toBe('none');
    expect(noticeStatus(invitation, { ...program, state: 'CLOSED' }, { ...admin, userId: 'bob' }, DURING)).toBe('none');
    expect(noticeStatus(invitation, program, admin, DURING)).toBe('pending');
  });

  it("is none once the invitation's fiscal year is not the program's current one", () => {
    expect(noticeStatus(invitation, { ...program, fiscalYear: 'FY28' }, admin, DURING)).toBe('none');
    expect(noticeStatus({ ...invitation, state: 'ENROLLED' }, { ...program, fiscalYear: 'FY28' }, admin, DURING)).toBe('none');
    expect(noticeStatus(invitation, null, admin, DURING)).toBe('none');
  });

  it('is none once the fiscal year is over while the program is still in it (Enroll refuses it), for every recipient', () => {
    const justBefore = new Date(FY27_OVER.getTime() - 1);
    expect(noticeStatus(invitation, program, admin, justBefore)).toBe('pending');
    expect(noticeStatus(invitation, program, admin, FY27_OVER)).toBe('none');
    expect(noticeStatus(invitation, program, { ...admin, userId: 'bob' }, FY27_OVER)).toBe('none');
    expect(noticeStatus({ ...invitation, state: 'ENROLLED' }, program, admin, FY27_OVER)).toBe('none');
  });
});

describe('noticeMessage', () => {
  const location = 'Contoso Inc (1234567)';
  const programYear = 'Azure Partner Incentives (FY27)';
  const invited = `${location} is invited to enroll in ${programYear}. Select Get Started to enroll.`;
  const enrolled = `${location} was invited to enroll in ${programYear} and is now enrolled.`;

  it('invites to enroll while nothing is started (no enrollment known, invited, or ended and eligible again)', () => {
    expect(noticeMessage(location, programYear)).toBe(invited);
    expect(noticeMessage(location, programYear, { status: 'INVITED' })).toBe(invited);
    expect(noticeMessage(location, programYear, { status: 'INELIGIBLE', completed: true })).toBe(invited);
  });

  it('says enrolled once enrolled, also while validated again after a profile edit', () => {
    expect(noticeMessage(location, programYear, { status: 'ENROLLED' })).toBe(enrolled);
    expect(noticeMessage(location, programYear, { status: 'VALIDATING', completed: true })).toBe(enrolled);
  });

  it('says submitted and being validated, not invited, when another admin submitted it', () => {
    expect(noticeMessage(location, programYear, { status: 'VALIDATING' })).toBe(
      `${location} was invited to enroll in ${programYear}. Its enrollment is submitted and being validated.`,
    );
  });

  it('says started and ready to submit when Enroll started it with its payout rules met (INVITED, Submit next)', () => {
    expect(noticeMessage(location, programYear, { status: 'INVITED', started: true })).toBe(
      `${location} was invited to enroll in ${programYear}. Its enrollment is started: select Get Started to submit it.`,
    );
  });

  it('says the enrollment needs action, started or once enrolled', () => {
    const needsAction = `${location} was invited to enroll in ${programYear}. Its enrollment needs action: select Get Started to see what is missing.`;
    expect(noticeMessage(location, programYear, { status: 'ACTION_REQUIRED' })).toBe(needsAction);
    expect(noticeMessage(location, programYear, { status: 'ACTION_REQUIRED', completed: true })).toBe(needsAction);
  });
});
