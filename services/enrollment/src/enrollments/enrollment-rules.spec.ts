import { judgedAt, PayoutRules } from '@lib/contracts';
import {
  bankNoLongerServes,
  completeAt,
  keptBankProfileId,
  nextAction,
  payoutGaps,
  ProfileFacts,
  statusLabel,
  validationState,
  withdrawnBankChoice,
} from './enrollment-rules';
import type { Enrollment } from './enrollment.schema';
import { toEnrollmentDto } from './enrollment.view';

const rules: PayoutRules = { allowedCurrencies: ['USD', 'EUR'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: true };
const now = new Date('2026-09-01T00:00:00Z');
const bank = (over: Partial<ProfileFacts> = {}): ProfileFacts => ({
  profileId: 'b1',
  partnerId: 'p',
  status: 'APPROVED',
  revision: 1,
  reasons: [],
  currency: 'USD',
  paymentMethod: 'ELECTRONIC_BANK_TRANSFER',
  ...over,
});
const tax = (over: Partial<ProfileFacts> = {}): ProfileFacts => ({
  profileId: 't1',
  partnerId: 'p',
  status: 'APPROVED',
  revision: 1,
  reasons: [],
  expiresAt: new Date('2027-12-31T00:00:00Z'),
  ...over,
});

describe('payout gaps (what Enroll and Submit check)', () => {
  it('names every missing profile', () => {
    expect(payoutGaps(rules, undefined, undefined, { at: now, strict: false })).toEqual(['BANK_PROFILE_MISSING', 'TAX_PROFILE_MISSING']);
  });

  it('lets a profile pending validation through (Submit waits for it), not a rejected one', () => {
    expect(payoutGaps(rules, bank({ status: 'PENDING_VALIDATION' }), tax({ status: 'PENDING_VALIDATION' }), { at: now, strict: false })).toEqual([]);
    expect(payoutGaps(rules, bank({ status: 'ACTION_REQUIRED' }), tax({ status: 'ACTION_REQUIRED' }), { at: now, strict: false })).toEqual([
      'BANK_PROFILE_NOT_APPROVED',
      'TAX_PROFILE_NOT_APPROVED',
    ]);
  });

  it('needs approved profiles when strict (a new fiscal year)', () => {
    expect(payoutGaps(rules, bank({ status: 'PENDING_VALIDATION' }), tax(), { at: now, strict: true })).toEqual(['BANK_PROFILE_NOT_APPROVED']);
  });

  it('checks currency, payment method and the tax expiry date at the given instant', () => {
    expect(payoutGaps(rules, bank({ currency: 'GBP', paymentMethod: 'CHECK' }), tax({ expiresAt: now }), { at: now, strict: false })).toEqual([
      'CURRENCY_NOT_ALLOWED',
      'PAYMENT_METHOD_NOT_ALLOWED',
      'TAX_PROFILE_EXPIRED',
    ]);
  });

  it('reads a payment method a later payout-profiles added as one the program does not allow', () => {
    expect(payoutGaps(rules, bank({ paymentMethod: 'INSTANT_PAYMENT' }), tax(), { at: now, strict: false })).toEqual(['PAYMENT_METHOD_NOT_ALLOWED']);
  });

  it('does not ask for a tax profile when the program does not', () => {
    expect(payoutGaps({ ...rules, taxProfileRequired: false }, bank(), undefined, { at: now, strict: true })).toEqual([]);
  });

  // SPEC 1, Enrollment 4: ENROLLED only when the chosen bank and tax profiles are validated. A program that requires no
  // tax profile does not ask for one, nor for one unexpired; but one the enrollment uses must pass validation.
  it('asks a tax profile in use to pass validation even where the program requires none; not its expiry', () => {
    const open = { ...rules, taxProfileRequired: false };
    expect(payoutGaps(open, bank(), tax({ status: 'ACTION_REQUIRED' }), { at: now, strict: false })).toEqual(['TAX_PROFILE_NOT_APPROVED']);
    expect(payoutGaps(open, bank(), tax({ status: 'PENDING_VALIDATION' }), { at: now, strict: false })).toEqual([]);
    expect(payoutGaps(open, bank(), tax({ status: 'PENDING_VALIDATION' }), { at: now, strict: true })).toEqual(['TAX_PROFILE_NOT_APPROVED']);
    expect(payoutGaps(open, bank(), tax({ expiresAt: now }), { at: now, strict: true })).toEqual([]);
  });
});

describe('validation state of a submitted enrollment', () => {
  it('is ENROLLED once both profiles are approved, VALIDATING while one is pending', () => {
    expect(validationState(rules, bank(), tax(), now).status).toBe('ENROLLED');
    expect(validationState(rules, bank({ status: 'PENDING_VALIDATION', revision: 2 }), tax(), now).status).toBe('VALIDATING');
  });

  it('is ACTION_REQUIRED with the validator reasons when a profile is rejected', () => {
    const state = validationState(rules, bank({ status: 'ACTION_REQUIRED', reasons: ['Routing number unknown'] }), tax(), now);
    expect(state).toEqual({ status: 'ACTION_REQUIRED', rejected: true, reasons: ['Bank profile: Routing number unknown'], missing: ['BANK_PROFILE_NOT_APPROVED'] });
  });

  it('waits for the tax profile in use where the program requires none, and is ACTION_REQUIRED when it is rejected', () => {
    const open = { ...rules, taxProfileRequired: false };
    expect(validationState(open, bank(), tax({ status: 'PENDING_VALIDATION', revision: 2 }), now).status).toBe('VALIDATING');
    expect(validationState(open, bank(), tax({ status: 'ACTION_REQUIRED', reasons: ['TIN does not match'] }), now)).toEqual({
      status: 'ACTION_REQUIRED',
      rejected: true,
      reasons: ['Tax profile: TIN does not match'],
      missing: ['TAX_PROFILE_NOT_APPROVED'],
    });
    expect(validationState(open, bank(), tax(), now).status).toBe('ENROLLED');
    expect(validationState(open, bank(), undefined, now).status).toBe('ENROLLED');
  });

  it('is ACTION_REQUIRED (not a rejection) when a profile no longer fits the program', () => {
    const state = validationState(rules, bank({ currency: 'JPY' }), tax(), now);
    expect(state.status).toBe('ACTION_REQUIRED');
    expect(state.rejected).toBe(false);
    expect(state.missing).toEqual(['CURRENCY_NOT_ALLOWED']);
  });
});

describe('what viewers see', () => {
  it('shows "Enrolling" to viewers who are not the location admin while in progress', () => {
    expect(statusLabel({ status: 'ACTION_REQUIRED' }, false)).toBe('Enrolling');
    expect(statusLabel({ status: 'VALIDATING' }, false)).toBe('Enrolling');
    expect(statusLabel({ status: 'VALIDATING' }, true)).toBe('Validating enrollment');
    expect(statusLabel({ status: 'ENROLLED' }, false)).toBe('Enrolled');
    // Started by Enroll, waiting for the admin's Submit: in progress too; only invited, nobody acted yet: "Invited".
    const started = { status: 'INVITED' as const, evaluatedAt: new Date('2026-09-01T00:00:00Z') };
    expect(statusLabel(started, false)).toBe('Enrolling');
    expect(statusLabel(started, true)).toBe('Invited');
    expect(statusLabel({ status: 'INVITED' }, false)).toBe('Invited');
  });

  it('gives the admin the next action', () => {
    const at = new Date('2026-09-01T00:00:00Z');
    const now = { now: at };
    const fy = 'FY27';
    expect(nextAction({ status: 'INVITED', fiscalYear: fy, missing: [] }, now)).toBe('ENROLL');
    expect(nextAction({ status: 'INVITED', fiscalYear: fy, evaluatedAt: at, missing: [] }, now)).toBe('SUBMIT');
    expect(nextAction({ status: 'ACTION_REQUIRED', fiscalYear: fy, evaluatedAt: at, missing: ['TAX_PROFILE_MISSING'] }, now)).toBe('CONTINUE');
    expect(nextAction({ status: 'VALIDATING', fiscalYear: fy, evaluatedAt: at, submittedAt: at, missing: [] }, now)).toBeNull();
    expect(nextAction({ status: 'ACTION_REQUIRED', fiscalYear: fy, evaluatedAt: at, submittedAt: at, missing: ['BANK_PROFILE_NOT_APPROVED'] }, now)).toBe('CONTINUE');
    expect(nextAction({ status: 'EXPIRED', fiscalYear: fy, evaluatedAt: at, missing: [] }, now)).toBeNull();
  });

  it("offers nothing to start or submit while the partner's agreement is not active (422); Continue on one submitted and sent back", () => {
    const at = new Date('2026-09-01T00:00:00Z');
    const inactive = { now: at, agreementActive: false };
    const fy = 'FY27';
    expect(nextAction({ status: 'INVITED', fiscalYear: fy, missing: [] }, inactive)).toBeNull();
    expect(nextAction({ status: 'INVITED', fiscalYear: fy, evaluatedAt: at, missing: [] }, inactive)).toBeNull();
    expect(nextAction({ status: 'INELIGIBLE', fiscalYear: fy, evaluatedAt: at, missing: [] }, { ...inactive, restartable: true })).toBeNull();
    // Submitted before it ended INELIGIBLE: starting it again is a start (checked against the agreement) all the same.
    expect(nextAction({ status: 'INELIGIBLE', fiscalYear: fy, evaluatedAt: at, submittedAt: at, missing: [] }, { ...inactive, restartable: true })).toBeNull();
    expect(nextAction({ status: 'INELIGIBLE', fiscalYear: fy, evaluatedAt: at, submittedAt: at, missing: [] }, { ...inactive, restartable: true, programFiscalYear: 'FY28' })).toBeNull();
    expect(nextAction({ status: 'INELIGIBLE', fiscalYear: fy, evaluatedAt: at, submittedAt: at, missing: [] }, { now: at, restartable: true })).toBe('ENROLL');
    expect(nextAction({ status: 'ACTION_REQUIRED', fiscalYear: fy, evaluatedAt: at, submittedAt: at, missing: ['BANK_PROFILE_NOT_APPROVED'] }, inactive)).toBe('CONTINUE');
  });

  // Where the call would be refused, nothing is offered.
  it('offers nothing once the fiscal year is over (the rollover decides), after the rollover, or to Enroll in a program not open', () => {
    const afterYear = { now: new Date('2027-07-01T00:00:00Z') }; // FY27's exclusive end
    const inYear = { now: new Date('2027-06-30T23:59:59Z') };
    const at = new Date('2026-09-01T00:00:00Z');
    const actionRequired = { status: 'ACTION_REQUIRED' as const, fiscalYear: 'FY27', evaluatedAt: at, missing: ['TAX_PROFILE_MISSING'] };
    expect(nextAction(actionRequired, inYear)).toBe('CONTINUE');
    expect(nextAction(actionRequired, afterYear)).toBeNull(); // Continue answers 409 fiscal-year-ended
    expect(nextAction({ status: 'INVITED', fiscalYear: 'FY27', evaluatedAt: at, missing: [] }, afterYear)).toBeNull(); // Submit too
    expect(nextAction({ ...actionRequired, rollover: { toFiscalYear: 'FY28', outcome: 'RENEWED', at } }, inYear)).toBeNull();
    expect(nextAction({ status: 'INVITED', fiscalYear: 'FY27', missing: [] }, { ...inYear, programOpen: false })).toBeNull(); // Enroll: 409 closed
    expect(nextAction({ status: 'INVITED', fiscalYear: 'FY27', missing: [] }, { ...inYear, programOpen: true })).toBe('ENROLL');
  });

  it('offers Enroll on an INELIGIBLE enrollment only where Enroll would start it again, within its year', () => {
    const at = new Date('2026-09-01T00:00:00Z');
    const inYear = { now: new Date('2027-06-30T23:59:59Z') };
    const ineligible = { status: 'INELIGIBLE' as const, fiscalYear: 'FY27', evaluatedAt: at, missing: ['TAX_PROFILE_MISSING'] };
    expect(nextAction(ineligible, inYear)).toBeNull();
    expect(nextAction(ineligible, { ...inYear, restartable: true })).toBe('ENROLL');
    // A continuation of the next year (the program still in this one): Continue on it, as Enroll acts on the program's year.
    expect(nextAction(ineligible, { ...inYear, restartable: true, programFiscalYear: ineligible.fiscalYear })).toBe('ENROLL');
    expect(nextAction(ineligible, { ...inYear, restartable: true, programFiscalYear: 'FY20' })).toBe('CONTINUE');
    expect(nextAction(ineligible, { now: new Date('2027-07-01T00:00:00Z'), restartable: true })).toBeNull();
    expect(nextAction({ ...ineligible, rollover: { toFiscalYear: 'FY28', outcome: 'EXPIRED', at } }, { ...inYear, restartable: true })).toBeNull();
    expect(nextAction({ ...ineligible, status: 'DISCONTINUED' }, { ...inYear, restartable: true })).toBeNull();
  });

  it('points each missing item to the payout-profiles API', () => {
    const links = completeAt(['BANK_PROFILE_MISSING', 'TAX_PROFILE_EXPIRED'], { locationId: 'L 1', baseUrl: 'http://payout:3004/' });
    expect(links.map((l) => `${l.item} ${l.method} ${l.href}`)).toEqual([
      'BANK_PROFILE_MISSING POST http://payout:3004/v1/bank-profiles',
      'BANK_PROFILE_MISSING PUT http://payout:3004/v1/locations/L%201/default-bank-profile',
      'TAX_PROFILE_EXPIRED PATCH http://payout:3004/v1/locations/L%201/tax-profile',
    ]);
  });

  it('offers another bank profile too when the one proposed is not approved (it may serve locations this admin may not edit for)', () => {
    const links = completeAt(['BANK_PROFILE_NOT_APPROVED'], { locationId: 'L1', bankProfileId: 'b 1', baseUrl: 'http://payout:3004' });
    expect(links.map((l) => `${l.item} ${l.method} ${l.path}`)).toEqual([
      'BANK_PROFILE_NOT_APPROVED PATCH /v1/bank-profiles/b%201',
      'BANK_PROFILE_NOT_APPROVED GET /v1/bank-profiles',
    ]);
    expect(links[1].description).toMatch(/choose another bank profile that serves this location with bankProfileId, or create one/);
  });

  // payout-profiles refuses to change a default's currency (409): for the location's default the way out is another
  // default, or a chosen profile; a chosen one (no location's default through this enrollment) may be changed.
  it("points a currency not allowed on the location's default to another default, not to a PATCH payout-profiles refuses", () => {
    const ofDefault = completeAt(['CURRENCY_NOT_ALLOWED'], { locationId: 'L1', bankProfileId: 'b1', bankChosen: false, baseUrl: 'http://payout:3004' });
    expect(ofDefault.map((l) => `${l.method} ${l.path}`)).toEqual(['PUT /v1/locations/L1/default-bank-profile', 'GET /v1/bank-profiles']);
    const ofChoice = completeAt(['CURRENCY_NOT_ALLOWED'], { locationId: 'L1', bankProfileId: 'b1', bankChosen: true, baseUrl: 'http://payout:3004' });
    expect(ofChoice.map((l) => `${l.method} ${l.path}`)).toEqual(['PATCH /v1/bank-profiles/b1', 'GET /v1/bank-profiles']);
    // A chosen profile may be another location's default, whose currency payout-profiles will not change.
    expect(ofChoice[0].description).toMatch(/refused while it is a location's default/);
    // Submitted with the location's default (kept whatever the default becomes), then the program dropped its currency:
    // another default would not reach it.
    const ofSubmitted = completeAt(['CURRENCY_NOT_ALLOWED'], { locationId: 'L1', bankProfileId: 'b1', bankChosen: false, bankSubmitted: true, baseUrl: 'http://payout:3004' });
    expect(ofSubmitted.map((l) => `${l.method} ${l.path}`)).toEqual(['GET /v1/bank-profiles', 'PATCH /v1/bank-profiles/b1']);
    expect(ofSubmitted[0].description).toMatch(/with bankProfileId/);
    // The enrollment as its admin reads it says the same.
    const submitted = { _id: 'e', programId: 'P', partnerId: 'p', locationId: 'L1', fiscalYear: 'FY27', status: 'ACTION_REQUIRED', bankProfileId: 'b1', bankChosen: false, submittedAt: now, missing: ['CURRENCY_NOT_ALLOWED'], reasons: [], version: 3, updatedAt: now } as unknown as Enrollment;
    const read = toEnrollmentDto(submitted, { viewerIsAdmin: true, payoutApiUrl: 'http://payout:3004', now });
    expect(read.completeAt.map((l) => `${l.method} ${l.path}`)).toEqual(['GET /v1/bank-profiles', 'PATCH /v1/bank-profiles/b1']);
    const method = completeAt(['PAYMENT_METHOD_NOT_ALLOWED'], { locationId: 'L1', bankProfileId: 'b1', bankChosen: false, baseUrl: 'http://payout:3004' });
    expect(method.map((l) => `${l.method} ${l.path}`)).toEqual(['PATCH /v1/bank-profiles/b1', 'GET /v1/bank-profiles']);
  });
});

describe('a kept bank profile that no longer serves the location', () => {
  const submittedAt = new Date('2026-08-01T00:00:00Z');
  const narrowed = bank({ name: 'EUR account', locationIds: ['L2'] });
  const reason = 'The bank profile "EUR account" no longer serves this location: choose another bank profile.';

  it("is the one chosen, or the one in use since Submit; a proposal of the location's default keeps none", () => {
    expect(keptBankProfileId({ bankChosen: true, bankProfileId: 'b1' })).toBe('b1');
    expect(keptBankProfileId({ bankChosen: false, submittedAt, bankProfileId: 'b1' })).toBe('b1');
    expect(keptBankProfileId({ bankChosen: false, bankProfileId: 'b1' })).toBeUndefined();
    expect(keptBankProfileId({ bankChosen: true })).toBeUndefined();
  });

  it('is withdrawn with the reason once its locationIds leave the location out', () => {
    expect(bankNoLongerServes({ locationId: 'L1', bankChosen: true, bankProfileId: 'b1' }, narrowed)).toBe(reason);
    expect(bankNoLongerServes({ locationId: 'L1', bankChosen: false, submittedAt, bankProfileId: 'b1' }, narrowed)).toBe(reason);
    // Without a name: its id.
    expect(bankNoLongerServes({ locationId: 'L1', bankChosen: true, bankProfileId: 'b1' }, bank({ locationIds: ['L2'] }))).toContain('"b1"');
    expect(withdrawnBankChoice(reason)).toEqual({ status: 'ACTION_REQUIRED', reasons: [reason], missing: [], bankChosen: false, bankWithdrawn: true });
  });

  it("is kept while it serves the location (named, '*', or never said), when none is kept, or when it is not that profile", () => {
    for (const locationIds of [['L2', 'L1'], ['*'], null, undefined]) {
      expect(bankNoLongerServes({ locationId: 'L1', bankChosen: true, bankProfileId: 'b1' }, bank({ locationIds }))).toBeNull();
    }
    expect(bankNoLongerServes({ locationId: 'L1', bankChosen: false, bankProfileId: 'b1' }, narrowed)).toBeNull();
    expect(bankNoLongerServes({ locationId: 'L1', bankChosen: true, bankProfileId: 'b1' }, undefined)).toBeNull();
    expect(bankNoLongerServes({ locationId: 'L1', bankChosen: true, bankProfileId: 'b2' }, narrowed)).toBeNull();
  });
});

describe('judgedAt (the instant a tax profile expiry is judged at, for an enrollment of a fiscal year)', () => {
  const FY27 = { start: new Date('2026-07-01T00:00:00Z'), last: new Date('2027-06-30T23:59:59.999Z') };

  it('is now within the year, its first instant before it, its last instant after it', () => {
    expect(judgedAt('FY27', new Date('2026-12-24T10:00:00Z'))).toEqual(new Date('2026-12-24T10:00:00Z'));
    expect(judgedAt('FY27', new Date('2026-06-15T00:00:00Z'))).toEqual(FY27.start);
    expect(judgedAt('FY27', new Date('2027-07-01T00:05:00Z'))).toEqual(FY27.last);
    expect(judgedAt('FY27', FY27.start)).toEqual(FY27.start);
    expect(judgedAt('FY27', new Date('2027-07-01T00:00:00Z'))).toEqual(FY27.last);
  });

  it('makes a tax profile valid through the year cover it, and one ending with the year before not cover it', () => {
    const endingWithFY27 = tax({ expiresAt: new Date('2027-07-01T00:00:00Z') });
    // FY28 judged in June FY27: a tax profile expiring on 2027-07-01 covers none of FY28.
    expect(payoutGaps(rules, bank(), endingWithFY27, { at: judgedAt('FY28', new Date('2027-06-15T00:00:00Z')), strict: false })).toEqual(['TAX_PROFILE_EXPIRED']);
    // FY27 judged just after its end: one expiring then covered it.
    expect(validationState(rules, bank(), endingWithFY27, judgedAt('FY27', new Date('2027-07-01T00:05:00Z'))).status).toBe('ENROLLED');
  });
});
