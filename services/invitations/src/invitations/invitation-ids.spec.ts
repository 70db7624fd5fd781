import { deterministicId, getStartedUrl, invitationId } from './invitation-ids';

describe('invitation ids', () => {
  it('gives one id per (program, location, fiscal year), as a UUID', () => {
    const key = { programId: 'P1', locationId: 'L1', fiscalYear: 'FY27' };
    expect(invitationId(key)).toBe(invitationId({ ...key }));
    expect(invitationId(key)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(invitationId(key)).not.toBe(invitationId({ ...key, fiscalYear: 'FY28' }));
    expect(invitationId(key)).not.toBe(invitationId({ ...key, locationId: 'L2' }));
  });

  it('does not confuse parts that concatenate alike', () => {
    expect(deterministicId('ab', 'c')).not.toBe(deterministicId('a', 'bc'));
  });

  it('builds the Get Started link to the enrollment, encoding the parameters', () => {
    expect(getStartedUrl('http://localhost:8080/', { programId: 'P 1&x', locationId: 'L1', fiscalYear: 'FY27' })).toBe(
      'http://localhost:8080/incentives/enroll?programId=P+1%26x&locationId=L1&fiscalYear=FY27',
    );
  });
});
