import { noticeStatus } from './notice-rules';

const admin = { userId: 'ann', partnerId: 'P1', roles: [{ role: 'INCENTIVES_ADMIN' as const, locationIds: ['L1'] }] };
const program = { state: 'OPEN' as const, fiscalYear: 'FY27' };
const invitation = {
  partnerId: 'P1',
  locationId: 'L1',
  fiscalYear: 'FY27',
  state: 'ISSUED' as const,
  recipients: [{ userId: 'ann' }, { userId: 'bob', selectedAt: new Date() }],
};

describe('noticeStatus', () => {
  it('is pending for a recipient admin until selected, then selected', () => {
    expect(noticeStatus(invitation, program, admin)).toBe('pending');
    expect(noticeStatus(invitation, program, { ...admin, userId: 'bob' })).toBe('selected');
  });

  it('is none for someone who is not a recipient', () => {
    expect(noticeStatus(invitation, program, { ...admin, userId: 'carl' })).toBe('none');
  });

  it('is none for another partner, even with the same ids', () => {
    expect(noticeStatus(invitation, program, { ...admin, partnerId: 'P2' })).toBe('none');
  });

  it('is none once the recipient no longer holds the Incentives admin role on the location', () => {
    expect(noticeStatus(invitation, program, { ...admin, roles: [{ role: 'INCENTIVES_USER', locationIds: ['L1'] }] })).toBe('none');
    expect(noticeStatus(invitation, program, { ...admin, roles: [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }] })).toBe('pending');
  });

  it('is none for a revoked or waiting invitation', () => {
    expect(noticeStatus({ ...invitation, state: 'REVOKED' }, program, admin)).toBe('none');
    expect(noticeStatus({ ...invitation, state: 'AWAITING_ADMIN' }, program, admin)).toBe('none');
    expect(noticeStatus({ ...invitation, state: 'ENROLLED' }, program, admin)).toBe('pending');
  });

  it('is none while the program is not OPEN, and again pending once it reopens', () => {
    expect(noticeStatus(invitation, { ...program, state: 'CLOSED' }, admin)).toBe('none');
    expect(noticeStatus(invitation, { ...program, state: 'DISCONTINUED' }, admin)).toBe('none');
    expect(noticeStatus(invitation, { ...program, state: 'CLOSED' }, { ...admin, userId: 'bob' })).toBe('none');
    expect(noticeStatus(invitation, program, admin)).toBe('pending');
  });

  it("is none once the invitation's fiscal year is not the program's current one", () => {
    expect(noticeStatus(invitation, { ...program, fiscalYear: 'FY28' }, admin)).toBe('none');
    expect(noticeStatus({ ...invitation, state: 'ENROLLED' }, { ...program, fiscalYear: 'FY28' }, admin)).toBe('none');
    expect(noticeStatus(invitation, null, admin)).toBe('none');
  });
});
