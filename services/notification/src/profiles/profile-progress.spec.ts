import { locationsStillServed, profileWithdrawalOf } from './profile-progress.repository';

describe('profileWithdrawalOf', () => {
  const progress = { partnerId: 'P1', revision: 3, expiresAt: new Date('2027-06-30T00:00:00.000Z') };

  it('withdraws "could not validate" of an earlier revision, not of the current one', () => {
    expect(profileWithdrawalOf({ partnerId: 'P1', profile: { profileId: 'x', revision: 2 } }, progress)).toBe('the profile changed since (revision 3): it is validated again');
    expect(profileWithdrawalOf({ partnerId: 'P1', profile: { profileId: 'x', revision: 3 } }, progress)).toBeNull();
  });

  it('withdraws "expires on" of another date, not of the same instant however it was written', () => {
    expect(profileWithdrawalOf({ partnerId: 'P1', profile: { profileId: 'x', expiresAt: new Date('2027-01-31T00:00:00.000Z') } }, progress)).toBe(
      "the profile's forms expire on 2027-06-30 since",
    );
    expect(profileWithdrawalOf({ partnerId: 'P1', profile: { profileId: 'x', expiresAt: '2027-06-30T00:00:00Z' as unknown as Date } }, progress)).toBeNull();
  });

  it('withdraws nothing without what to compare: no profile on the email, no event of it here, another partner', () => {
    expect(profileWithdrawalOf({ partnerId: 'P1' }, progress)).toBeNull();
    expect(profileWithdrawalOf({ partnerId: 'P1', profile: { profileId: 'x', revision: 1 } }, null)).toBeNull();
    expect(profileWithdrawalOf({ partnerId: 'P2', profile: { profileId: 'x', revision: 1 } }, progress)).toBeNull();
    expect(profileWithdrawalOf({ partnerId: 'P1', profile: { profileId: 'x', expiresAt: new Date('2027-01-31T00:00:00.000Z') } }, { partnerId: 'P1', revision: 3 })).toBeNull();
    expect(profileWithdrawalOf({ partnerId: 'P1', profile: { profileId: 'x', expiresAt: new Date('2027-01-31T00:00:00.000Z') } }, { partnerId: 'P1', revision: 3, expiresAt: null })).toBeNull();
  });
});

describe('locationsStillServed', () => {
  const email = { partnerId: 'P1', profile: { profileId: 'b', revision: 2 }, audience: { roles: ['INCENTIVES_ADMIN' as const], locationIds: ['L1', 'L2', 'L3'] } };
  const progress = (locationIds: string[] | null, revision = 2, partnerId = 'P1') => ({ partnerId, revision, locationIds });

  it("names the locations a bank profile serves now once it stopped serving some the email was addressed for (the email's revision)", () => {
    expect(locationsStillServed(email, progress(['L2', 'L9']))).toEqual(['L2', 'L9']);
    expect(locationsStillServed(email, progress(['L9']))).toEqual(['L9']);
    // Addressed for every location (a profile serving `*` then): any list is narrower.
    expect(locationsStillServed({ ...email, audience: { roles: ['INCENTIVES_ADMIN'] } }, progress(['L2']))).toEqual(['L2']);
  });

  it('narrows nothing when every location addressed is still served, or it cannot be told', () => {
    expect(locationsStillServed(email, progress(['L3', 'L1', 'L2', 'L4']))).toBeUndefined();
    expect(locationsStillServed(email, progress(['*']))).toBeUndefined();
    expect(locationsStillServed(email, progress(null))).toBeUndefined();
    expect(locationsStillServed(email, null)).toBeUndefined();
    // Another revision (a later one withdraws the email: profileWithdrawalOf), another partner's, no audience recorded.
    expect(locationsStillServed(email, progress(['L2'], 3))).toBeUndefined();
    expect(locationsStillServed(email, progress(['L2'], 2, 'P2'))).toBeUndefined();
    expect(locationsStillServed({ ...email, audience: undefined }, progress(['L2']))).toBeUndefined();
    expect(locationsStillServed({ ...email, profile: { profileId: 'b', expiresAt: new Date() } }, progress(['L2']))).toBeUndefined();
  });
});
