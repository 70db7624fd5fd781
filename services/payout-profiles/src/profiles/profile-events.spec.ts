import type { BankProfile } from '../bank-profiles/bank-profile.schema';
import type { TaxProfile } from '../tax-profiles/tax-profile.schema';
import { bankProfileEvent, taxProfileEvent } from './profile-events';

// Reasons stored before they were masked as they are recorded: an event built from the profile later (a change of its
// locations alone) publishes them masked all the same; ones masked already, and plain words and dates, as they are.
const stored = ['IBAN DE89 3704 0044 0532 0130 00 is closed', 'Account 123456789 not found', 'Account ****6789 is closed', 'Form expired on 2026-07-01'];
const masked = ['IBAN ****3000 is closed', 'Account ****6789 not found', 'Account ****6789 is closed', 'Form expired on 2026-07-01'];

describe('profile events', () => {
  it("carry a bank profile's stored reasons masked", () => {
    const profile = { _id: 'b1', partnerId: 'P1', revision: 2, status: 'ACTION_REQUIRED', reasons: stored, name: 'Main', country: 'DE', currency: 'EUR', paymentMethod: 'ELECTRONIC_BANK_TRANSFER', maskedAccount: '****3000', version: 3 } as unknown as BankProfile;
    expect(bankProfileEvent(profile).reasons).toEqual(masked);
    expect(profile.reasons).toEqual(stored);
  });

  it("carry a tax profile's stored reasons masked", () => {
    const profile = { _id: 't1', partnerId: 'P1', locationId: 'L1', revision: 1, status: 'ACTION_REQUIRED', reasons: stored, businessProfile: { legalName: 'Contoso' }, incorporationCountry: 'US', expiresAt: new Date('2027-12-31T00:00:00Z') } as unknown as TaxProfile;
    expect(taxProfileEvent(profile).reasons).toEqual(masked);
  });
});

describe('bankProfileEvent (reasons stored before masking was applied)', () => {
  it('publishes each reason masked and clipped: an old stored reason NFKC makes longer does not make the event grow', () => {
    const reason = `\uFDFA`.repeat(1_000);
    const event = bankProfileEvent({ _id: 'BANK-1', partnerId: 'P', revision: 1, status: 'ACTION_REQUIRED', reasons: [reason], name: 'n', country: 'US', currency: 'USD', paymentMethod: 'ELECTRONIC_BANK_TRANSFER', maskedAccount: '****1234', version: 1, locationIds: ['L1'] } as never);
    expect(Array.from(event.reasons[0])).toHaveLength(1_000);
    expect(event.reasons[0].endsWith('\u2026')).toBe(true);
  });
});
