import { sortClaims } from './default-claims-rules';

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

  it('claims of several requests (each with its token) and claims without one follow the same rule, by version', () => {
    const tagged = (locationId: string, version: number, token: string) => ({ locationId, version, token });
    const claims = [tagged('L1', 2, 'a'), tagged('L1', 2, 'b'), claim('L1', 1), tagged('L2', 5, 'a'), claim('L2', 5), tagged('L3', 1, 'b')];
    const { live, obsoleteUpTo } = sortClaims('P', claims, [stored('L1', 2, 'P'), stored('L2', 4, 'Q'), stored('L3', 1, 'Q')]);
    // L1: written at 2 with P (both requests' claims live), 1 obsolete; L2: pending at 5 (both); L3: lost its race.
    expect(live).toEqual(['L1', 'L2']);
    expect(obsoleteUpTo).toEqual(new Map([['L1', 1], ['L3', 1]]));
  });

  it('a location with a live claim and older obsolete ones is listed once', () => {
    expect(sortClaims('P', [claim('L1', 1), claim('L1', 2)], [stored('L1', 2, 'P')])).toEqual({ live: ['L1'], obsoleteUpTo: new Map([['L1', 1]]) });
  });
});
