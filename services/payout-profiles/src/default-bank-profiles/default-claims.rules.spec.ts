import { sortClaims } from './default-claims.rules';

describe('default claims on a bank profile', () => {
  const claim = (locationId: string, version: number) => ({ locationId, version });
  const stored = (locationId: string, version: number, bankProfileId: string | null) => ({ locationId, version, bankProfileId });

  it('a claim whose default was written with this profile is live', () => {
    expect(sortClaims('P', [claim('L1', 2)], [stored('L1', 2, 'P')])).toEqual({ live: ['L1'], obsoleteUpTo: new Map() });
  });

  it('a claim whose default is not written yet (pending, or no default document) is live', () => {
    expect(sortClaims('P', [claim('L1', 3), claim('L2', 1)], [stored('L1', 2, 'Q')]).live).toEqual(['L1', 'L2']);
  });

  it('a claim the default moved past, or lost at its version, is obsolete', () => {
    const { live, obsoleteUpTo } = sortClaims('P', [claim('L1', 1), claim('L1', 2), claim('L2', 4)], [stored('L1', 3, 'P'), stored('L2', 4, null)]);
    expect(live).toEqual([]);
    expect(obsoleteUpTo).toEqual(new Map([['L1', 2], ['L2', 4]]));
  });

  it('a location with a live claim and older obsolete ones is listed once', () => {
    expect(sortClaims('P', [claim('L1', 1), claim('L1', 2)], [stored('L1', 2, 'P')])).toEqual({ live: ['L1'], obsoleteUpTo: new Map([['L1', 1]]) });
  });
});
