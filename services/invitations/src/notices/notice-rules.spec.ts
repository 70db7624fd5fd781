import { noticeStatus } from './notice-rules';

const admin = { userId: 'ann', partnerId: 'P1', roles: [{ role: 'INCENTIVES_ADMIN' as const, locationIds: ['L1'] }] };
const invitation = {
  partnerId: 'P1',
  locationId: 'L1',
  state: 'ISSUED' as const,
  recipients: [{ userId: 'ann' }, { userId: 'bob', selectedAt: new Date() }],
};

describe('noticeStatus', () => {
  it('is pending for a recipient admin until selected, then selected', () => {
    expect(noticeStatus(invitation, admin)).toBe('pending');
    expect(noticeStatus(invitation, { ...admin, userId: 'bob' })).toBe('selected');
  });

  it('is none for someone who is not a recipient', () => {
    expect(noticeStatus(invitation, { ...admin, userId: 'carl' })).toBe('none');
  });

  it('is none for another partner, even with the same ids', () => {
    expect(noticeStatus(invitation, { ...admin, partnerId: 'P2' })).toBe('none');
  });

  it('is none once the recipient no longer holds the Incentives admin role on the location', () => {
    expect(noticeStatus(invitation, { ...admin, roles: [{ role: 'INCENTIVES_USER', locationIds: ['L1'] }] })).toBe('none');
    expect(noticeStatus(invitation, { ...admin, roles: [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }] })).toBe('pending');
  });

  it('is none for a revoked or waiting invitation', () => {
    expect(noticeStatus({ ...invitation, state: 'REVOKED' }, admin)).toBe('none');
    expect(noticeStatus({ ...invitation, state: 'AWAITING_ADMIN' }, admin)).toBe('none');
    expect(noticeStatus({ ...invitation, state: 'ENROLLED' }, admin)).toBe('pending');
  });
});
