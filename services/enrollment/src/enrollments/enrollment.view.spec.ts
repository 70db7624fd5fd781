import { Enrollment } from './enrollment.schema';
import { toEnrollmentDto } from './enrollment.view';

const missingTax = {
  _id: 'e1',
  programId: 'P',
  programName: 'Program',
  partnerId: 'PA',
  locationId: 'L1',
  fiscalYear: 'FY27',
  status: 'ACTION_REQUIRED',
  missing: ['TAX_PROFILE_MISSING'],
  reasons: [],
  evaluatedAt: new Date('2026-09-01T00:00:00Z'),
  version: 2,
  createdAt: new Date('2026-09-01T00:00:00Z'),
  updatedAt: new Date('2026-09-01T00:00:00Z'),
} as unknown as Enrollment;
const admin = { viewerIsAdmin: true, payoutApiUrl: 'http://payout:3004' };

describe("an enrollment's completeAt links", () => {
  it('point its admin where to complete what is missing while Continue is offered', () => {
    const dto = toEnrollmentDto(missingTax, { ...admin, now: new Date('2027-01-15T00:00:00Z') });
    expect(dto.nextAction).toBe('CONTINUE');
    expect(dto.completeAt).toEqual([expect.objectContaining({ item: 'TAX_PROFILE_MISSING', method: 'POST', path: '/v1/locations/L1/tax-profile' })]);
  });

  it('are none once nothing is offered: its year over (the rollover expires it), or expired, or for another viewer', () => {
    expect(toEnrollmentDto(missingTax, { ...admin, now: new Date('2027-07-02T00:00:00Z') })).toMatchObject({ nextAction: null, completeAt: [], missing: ['TAX_PROFILE_MISSING'] });
    expect(toEnrollmentDto({ ...missingTax, status: 'EXPIRED' } as Enrollment, { ...admin, now: new Date('2027-01-15T00:00:00Z') })).toMatchObject({ nextAction: null, completeAt: [] });
    expect(toEnrollmentDto(missingTax, { ...admin, viewerIsAdmin: false, now: new Date('2027-01-15T00:00:00Z') })).toMatchObject({ nextAction: null, completeAt: [] });
  });
});
