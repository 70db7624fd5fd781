import { MissingPayoutItem, PayoutRules, previousFiscalYear } from '@lib/contracts';
import { ProfileFacts } from '../enrollments/enrollment-rules';
import { decideRenewal, eligibilityFor, RenewalInput, scheduledWork, wasCompleted } from './renewal-rules';
import { reminderMark } from './usecases/send-renewal-reminders.use-case';

const rules: PayoutRules = { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: true };
const decided = (eligible: boolean, reasons: string[] = []) => ({ eligible, reasons, decidedAt: new Date(), eventId: 'e' });
const approved = (over: Partial<ProfileFacts> = {}): ProfileFacts => ({
  profileId: 'x',
  partnerId: 'p',
  status: 'APPROVED',
  revision: 1,
  reasons: [],
  currency: 'USD',
  paymentMethod: 'ELECTRONIC_BANK_TRANSFER',
  expiresAt: new Date('2028-01-01T00:00:00Z'),
  ...over,
});
const input = (over: Partial<RenewalInput> = {}): RenewalInput => ({
  program: { name: 'Growth', state: 'OPEN', requiresEligibility: true, payoutRules: rules },
  eligibility: { FY27: decided(true), FY28: decided(true) },
  partnerId: 'p',
  locationId: 'L1',
  bank: approved(),
  tax: approved(),
  fromFiscalYear: 'FY27',
  toFiscalYear: 'FY28',
  ...over,
});

describe('renewal decision', () => {
  it('renews with the ending year eligibility when the next year has no decision (saying it carried it), and an agreement never heard of', () => {
    expect(decideRenewal(input({ eligibility: { FY27: decided(true) } }))).toEqual({ outcome: 'RENEWED', reasons: [], missing: [], validated: { bank: 1, tax: 1 }, eligibilityCarried: true });
    // The new year's own decision, or a program open to all: nothing carried.
    expect(decideRenewal(input())).toEqual({ outcome: 'RENEWED', reasons: [], missing: [], validated: { bank: 1, tax: 1 } });
    const open = { name: 'Growth', state: 'OPEN' as const, requiresEligibility: false, payoutRules: rules };
    expect(decideRenewal(input({ program: open, eligibility: { FY27: decided(true) } }))).not.toHaveProperty('eligibilityCarried');
    // Carried also where the continuation waits for its profiles or the admin.
    expect(decideRenewal(input({ eligibility: { FY27: decided(true) }, bank: approved({ revision: 2, status: 'PENDING_VALIDATION' }) }))).toEqual(
      expect.objectContaining({ outcome: 'VALIDATING', eligibilityCarried: true }),
    );
  });

  it('renews with the revisions found approved, and follows validation while the current revision waits or was rejected', () => {
    expect(decideRenewal(input({ bank: approved({ revision: 3 }), tax: approved({ revision: 2 }) })).validated).toEqual({ bank: 3, tax: 2 });
    const untaxed = { name: 'Growth', state: 'OPEN' as const, requiresEligibility: true, payoutRules: { ...rules, taxProfileRequired: false } };
    // A program that requires no tax profile renews without one; one in use is validated with it (SPEC 1, Enrollment 4).
    expect(decideRenewal(input({ program: untaxed, tax: undefined })).validated).toEqual({ bank: 1 });
    expect(decideRenewal(input({ program: untaxed, tax: approved({ revision: 2 }) })).validated).toEqual({ bank: 1, tax: 2 });
    expect(decideRenewal(input({ program: untaxed, tax: approved({ revision: 3, status: 'PENDING_VALIDATION' }) }))).toEqual(
      expect.objectContaining({ outcome: 'VALIDATING', follows: true }),
    );
    // Everything there, only not validated yet: continued in validation, no action asked.
    const pending = decideRenewal(input({ bank: approved({ revision: 2, status: 'PENDING_VALIDATION' }) }));
    expect(pending).toEqual({ outcome: 'VALIDATING', reasons: [], missing: [], follows: true });
    // Rejected: the validator's reasons; fixing the profile is enough (followed).
    const rejected = decideRenewal(input({ tax: approved({ revision: 2, status: 'ACTION_REQUIRED', reasons: ['W-9 unsigned'] }) }));
    expect(rejected).toEqual({ outcome: 'ACTION_REQUIRED', reasons: ['Tax profile: W-9 unsigned'], missing: ['TAX_PROFILE_NOT_APPROVED'], follows: true });
    // Something really missing besides: waiting for the admin (Continue, Submit), not followed.
    const missing = decideRenewal(input({ bank: approved({ status: 'PENDING_VALIDATION', currency: 'EUR' }) }));
    expect(missing).toEqual(expect.objectContaining({ outcome: 'ACTION_REQUIRED', missing: expect.arrayContaining(['CURRENCY_NOT_ALLOWED']) }));
    expect(missing).not.toHaveProperty('follows');
    for (const decision of [pending, rejected, missing]) expect(decision).not.toHaveProperty('validated');
  });

  it('counts as completed an enrollment ENROLLED once and back in validation since, not one never enrolled', () => {
    const enrolledAt = new Date();
    expect(wasCompleted({ status: 'ENROLLED' })).toBe(true);
    expect(wasCompleted({ status: 'VALIDATING', enrolledAt })).toBe(true);
    expect(wasCompleted({ status: 'ACTION_REQUIRED', enrolledAt })).toBe(true);
    expect(wasCompleted({ status: 'VALIDATING' })).toBe(false);
    expect(wasCompleted({ status: 'ACTION_REQUIRED' })).toBe(false);
    // Another bank profile chosen after ENROLLED: back to the proposal, its year completed all the same.
    expect(wasCompleted({ status: 'INVITED', enrolledAt })).toBe(true);
    expect(wasCompleted({ status: 'INVITED' })).toBe(false);
    expect(wasCompleted({ status: 'DISCONTINUED', enrolledAt })).toBe(false);
  });

  it('uses the next year decision when there is one', () => {
    const decision = decideRenewal(input({ eligibility: { FY27: decided(true), FY28: decided(false, ['Revenue threshold not met']) } }));
    expect(decision.outcome).toBe('EXPIRED');
    expect(decision.reasons).toEqual(['The location is no longer eligible for Growth in FY28.', 'Revenue threshold not met']);
  });

  it('names the decision it expires on when it is the new year\'s own; not an earlier year\'s', () => {
    const fy28 = { ...decided(false), eventId: 'fy28-decision', decidedAt: new Date('2027-06-01T00:00:00Z') };
    expect(decideRenewal(input({ eligibility: { FY27: decided(true), FY28: fy28 } })).ineligibleBy).toEqual({ eventId: 'fy28-decision', decidedAt: fy28.decidedAt });
    // Only FY27's (no FY28 decision yet): it says nothing of FY28's decisions, which a consumer compares with it.
    const expired = decideRenewal(input({ eligibility: { FY27: { ...decided(false), eventId: 'fy27-decision' } } }));
    expect(expired.outcome).toBe('EXPIRED');
    expect(expired).not.toHaveProperty('ineligibleBy');
  });

  it('expires when the agreement is not active, saying so', () => {
    const decision = decideRenewal(input({ agreementActive: false }));
    expect(decision).toEqual({ outcome: 'EXPIRED', reasons: ["The partner's agreement is not active."], missing: [], causes: ['AGREEMENT_INACTIVE'] });
  });

  it('asks for action when only the profiles fall short: tax profile expired on the first day of the new year', () => {
    const decision = decideRenewal(input({ tax: approved({ expiresAt: new Date('2027-06-30T00:00:00Z') }) }));
    expect(decision.outcome).toBe('ACTION_REQUIRED');
    expect(decision.missing).toEqual(['TAX_PROFILE_EXPIRED']);
    expect(decision.reasons).toEqual(['The tax profile expires on or before July 1, 2027, the first day of FY28.']);
  });

  // What Continue lists for the same facts: a revision pending validation is not missing (Submit waits for it); only
  // what the admin must change is asked for, not a "not approved" that validation never said.
  it('asks for what Continue would list: a bank profile pending validation whose currency is no longer allowed lacks only the currency', () => {
    const decision = decideRenewal(input({ bank: approved({ status: 'PENDING_VALIDATION', revision: 2, currency: 'EUR' }) }));
    expect(decision.outcome).toBe('ACTION_REQUIRED');
    expect(decision.missing).toEqual(['CURRENCY_NOT_ALLOWED']);
    expect(decision.reasons).toHaveLength(1);
    // Rejected, it is missing as Continue says too.
    const rejected = decideRenewal(input({ bank: approved({ status: 'ACTION_REQUIRED', reasons: ['x'], currency: 'EUR' }) }));
    expect(rejected.missing).toEqual(['BANK_PROFILE_NOT_APPROVED', 'CURRENCY_NOT_ALLOWED']);
  });

  it('ignores eligibility for open programs and a bank profile of another partner', () => {
    expect(decideRenewal(input({ eligibility: undefined, program: { name: 'Open', state: 'OPEN', requiresEligibility: false, payoutRules: rules } })).outcome).toBe('RENEWED');
    expect(decideRenewal(input({ bank: approved({ partnerId: 'other' }) })).missing).toEqual(['BANK_PROFILE_MISSING']);
  });

  it("asks for action when the bank profile no longer serves the location, whatever its validation; the choice is not kept", () => {
    const narrowed = approved({ name: 'EUR account', locationIds: ['L2'] });
    expect(decideRenewal(input({ bank: narrowed }))).toEqual({
      outcome: 'ACTION_REQUIRED',
      reasons: ['The bank profile "EUR account" no longer serves this location: choose another bank profile.'],
      missing: [],
      causes: ['BANK_PROFILE_NOT_SERVING'],
      bankWithdrawn: true,
    });
    // Its own gaps are moot (pending, currency); the tax profile's still count; not followed.
    const withTax = decideRenewal(input({ bank: approved({ locationIds: ['L2'], status: 'PENDING_VALIDATION', currency: 'EUR' }), tax: approved({ expiresAt: new Date('2027-06-30T00:00:00Z') }) }));
    expect(withTax).toEqual(expect.objectContaining({ outcome: 'ACTION_REQUIRED', missing: ['TAX_PROFILE_EXPIRED'], bankWithdrawn: true }));
    expect(withTax.reasons).toHaveLength(2);
    expect(withTax.reasons[0]).toBe('The bank profile "x" no longer serves this location: choose another bank profile.');
    expect(withTax).not.toHaveProperty('follows');
    // Not continued at all: expired for that reason, not asked for action.
    expect(decideRenewal(input({ bank: narrowed, agreementActive: false })).outcome).toBe('EXPIRED');
    // Serving it by name, '*', or never said (events before locationIds): renewed.
    for (const locationIds of [['L2', 'L1'], ['*'], null, undefined]) {
      expect(decideRenewal(input({ bank: approved({ locationIds }) }))).toEqual({ outcome: 'RENEWED', reasons: [], missing: [], validated: { bank: 1, tax: 1 } });
    }
  });

  it('never renews with a bank profile withdrawn already, even one serving the location again since (ACTION_REQUIRED, the choice not kept)', () => {
    // Withdrawn (it stopped serving L1), then widened again: still the withdrawal's decision, not RENEWED.
    const widened = approved({ name: 'EUR account', locationIds: ['L1', 'L2'] });
    expect(decideRenewal(input({ bank: widened, bankWithdrawn: true }))).toEqual({
      outcome: 'ACTION_REQUIRED',
      reasons: ['The bank profile "EUR account" no longer serves this location: choose another bank profile.'],
      missing: [],
      causes: ['BANK_PROFILE_NOT_SERVING'],
      bankWithdrawn: true,
    });
    // The profile unknown (or another partner's): the same, without its name.
    expect(decideRenewal(input({ bank: undefined, bankWithdrawn: true }))).toEqual(
      expect.objectContaining({ outcome: 'ACTION_REQUIRED', missing: [], bankWithdrawn: true, reasons: [expect.stringContaining('no longer serves this location')] }),
    );
    expect(decideRenewal(input({ bank: approved({ partnerId: 'other', name: 'secret' }), bankWithdrawn: true })).reasons[0]).not.toContain('secret');
    // Not continued at all: expired for that reason.
    expect(decideRenewal(input({ bank: widened, bankWithdrawn: true, agreementActive: false })).outcome).toBe('EXPIRED');
    expect(decideRenewal(input({ bank: widened, bankWithdrawn: false })).outcome).toBe('RENEWED');
  });

  it('takes the latest earlier decision, never a later year', () => {
    expect(eligibilityFor({ FY26: decided(true), FY27: decided(false) }, 'FY29', 'FY28', 'p')?.eligible).toBe(false);
    expect(eligibilityFor({ FY30: decided(true) }, 'FY28', 'FY27', 'p')).toBeUndefined();
  });

  it("passes over a decision naming another partner, as if its year had none; one recorded before decisions named their partner counts", () => {
    const named = (eligible: boolean, partnerId: string) => ({ ...decided(eligible), partnerId });
    expect(eligibilityFor({ FY27: named(true, 'p'), FY28: named(false, 'other') }, 'FY28', 'FY27', 'p')?.eligible).toBe(true);
    expect(eligibilityFor({ FY26: named(true, 'p'), FY27: named(false, 'other') }, 'FY28', 'FY27', 'p')?.eligible).toBe(true);
    expect(eligibilityFor({ FY27: named(true, 'other') }, 'FY28', 'FY27', 'p')).toBeUndefined();
    expect(eligibilityFor({ FY27: decided(true) }, 'FY28', 'FY27', 'p')?.eligible).toBe(true);
    expect(decideRenewal(input({ eligibility: { FY27: named(true, 'p'), FY28: named(false, 'other') } })).outcome).toBe('RENEWED');
    expect(decideRenewal(input({ eligibility: { FY27: named(true, 'other') } })).outcome).toBe('EXPIRED');
  });

  it("reads the partner's own decision set aside in a year kept for another partner's (the location not known then)", () => {
    const named = (eligible: boolean, partnerId: string) => ({ ...decided(eligible), partnerId });
    const wrongOverOwn = (own: boolean) => ({ ...named(false, 'other'), others: [named(own, 'p')] });
    expect(eligibilityFor({ FY27: wrongOverOwn(true) }, 'FY28', 'FY27', 'p')?.eligible).toBe(true);
    expect(eligibilityFor({ FY28: wrongOverOwn(false), FY27: named(true, 'p') }, 'FY28', 'FY27', 'p')?.eligible).toBe(false);
    expect(eligibilityFor({ FY27: wrongOverOwn(true) }, 'FY28', 'FY27', 'other')?.eligible).toBe(false);
    expect(decideRenewal(input({ eligibility: { FY27: wrongOverOwn(true) } })).outcome).toBe('RENEWED');
  });
});

describe('the daily job', () => {
  it('rolls over the year that ended and reminds in the last 30 days only', () => {
    expect(previousFiscalYear('FY27')).toBe('FY26');
    expect(scheduledWork(new Date('2027-06-01T00:30:00Z'), 30)).toEqual(expect.objectContaining({ rolloverFrom: 'FY26', remindFor: 'FY27' }));
    expect(scheduledWork(new Date('2027-05-01T00:00:00Z'), 30).remindFor).toBeUndefined();
    // The window's edge: 30 days before the year's end (July 1, 00:00 UTC) reminds, a second earlier does not.
    expect(scheduledWork(new Date('2027-06-01T00:00:00Z'), 30).remindFor).toBe('FY27');
    expect(scheduledWork(new Date('2027-05-31T23:59:59Z'), 30).remindFor).toBeUndefined();
    expect(scheduledWork(new Date('2027-05-31T23:59:59Z'), 31).remindFor).toBe('FY27');
    expect(scheduledWork(new Date('2027-07-01T00:30:00Z'), 30)).toEqual(expect.objectContaining({ rolloverFrom: 'FY27' }));
    expect(scheduledWork(new Date('2027-07-01T00:30:00Z'), 30).remindFor).toBeUndefined();
  });
});

describe('reminderMark: what a renewal reminder told, told once', () => {
  it('is the same however the reasons are worded (a program renamed, a release rewording them), and not for another cause', () => {
    const discontinued = decideRenewal(input({ program: { name: 'Growth', state: 'DISCONTINUED', requiresEligibility: true, payoutRules: rules } }));
    const renamed = decideRenewal(input({ program: { name: 'Growth Plus', state: 'DISCONTINUED', requiresEligibility: true, payoutRules: rules } }));
    expect(renamed.reasons).not.toEqual(discontinued.reasons);
    expect(reminderMark('FY27', 'WILL_NOT_CONTINUE', renamed)).toBe(reminderMark('FY27', 'WILL_NOT_CONTINUE', discontinued));
    const inactive = decideRenewal(input({ agreementActive: false }));
    expect(reminderMark('FY27', 'WILL_NOT_CONTINUE', inactive)).not.toBe(reminderMark('FY27', 'WILL_NOT_CONTINUE', discontinued));
    // Another eligibility system's wording of the same loss: the same mark.
    const ineligible = (reasons: string[]) => reminderMark('FY27', 'WILL_NOT_CONTINUE', decideRenewal(input({ eligibility: { FY27: decided(true), FY28: decided(false, reasons) } })));
    expect(ineligible(['Competency lapsed'])).toBe(ineligible(['Competency expired on 2027-05-01']));
    expect(reminderMark('FY27', 'WILL_NOT_CONTINUE', inactive)).toMatch(/^FY27:WILL_NOT_CONTINUE:[0-9a-f]{16}$/);
    expect(reminderMark('FY27', 'NOT_COMPLETED', inactive)).toBe('FY27:NOT_COMPLETED');
  });

  it("is the same for one that will expire whatever its payout items (completing them cannot save it), not for one continuing as Action required", () => {
    const notEligible = (missing: MissingPayoutItem[]) => reminderMark('FY27', 'WILL_NOT_CONTINUE', { outcome: 'EXPIRED', causes: ['NOT_ELIGIBLE'], missing });
    expect(notEligible(['TAX_PROFILE_EXPIRED'])).toBe(notEligible(['TAX_PROFILE_NOT_APPROVED']));
    expect(notEligible(['TAX_PROFILE_EXPIRED'])).toBe(notEligible([]));
    const actionRequired = (missing: MissingPayoutItem[]) => reminderMark('FY27', 'WILL_NOT_CONTINUE', { outcome: 'ACTION_REQUIRED', causes: [], missing });
    expect(actionRequired(['TAX_PROFILE_EXPIRED'])).not.toBe(actionRequired(['BANK_PROFILE_MISSING']));
  });
});
