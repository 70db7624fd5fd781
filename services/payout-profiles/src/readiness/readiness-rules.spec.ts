import { MissingPayoutItems } from '@lib/contracts';
import { missingPayoutItems, ReadinessInput } from './readiness-rules';

const now = new Date('2026-06-01T00:00:00Z');
const rules = { allowedCurrencies: ['USD', 'EUR'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER' as const], taxProfileRequired: true };
const bank = { currency: 'EUR', paymentMethod: 'ELECTRONIC_BANK_TRANSFER' as const, status: 'APPROVED' as const };
const tax = { status: 'APPROVED' as const, expiresAt: new Date('2027-01-01T00:00:00Z') };
const check = (input: Partial<ReadinessInput>) => missingPayoutItems({ rules, bank, tax, now, ...input });

const cases: Array<[string, Partial<ReadinessInput>, string[]]> = [
  ['no bank profile', { bank: undefined }, ['BANK_PROFILE_MISSING']],
  ['bank profile pending', { bank: { ...bank, status: 'PENDING_VALIDATION' } }, ['BANK_PROFILE_NOT_APPROVED']],
  ['currency not allowed', { bank: { ...bank, currency: 'GBP' } }, ['CURRENCY_NOT_ALLOWED']],
  ['payment method not allowed', { bank: { ...bank, paymentMethod: 'CHECK' } }, ['PAYMENT_METHOD_NOT_ALLOWED']],
  ['no tax profile', { tax: undefined }, ['TAX_PROFILE_MISSING']],
  ['tax profile expired', { tax: { ...tax, expiresAt: now } }, ['TAX_PROFILE_EXPIRED']],
  ['tax profile action required', { tax: { ...tax, status: 'ACTION_REQUIRED' } }, ['TAX_PROFILE_NOT_APPROVED']],
  ['tax not required', { rules: { ...rules, taxProfileRequired: false }, tax: undefined }, []],
  // The location's tax profile is in use whenever there is one (Enroll proposes it): its validation counts, its expiry not.
  ['tax not required, its profile rejected', { rules: { ...rules, taxProfileRequired: false }, tax: { ...tax, status: 'ACTION_REQUIRED' } }, ['TAX_PROFILE_NOT_APPROVED']],
  ['tax not required, its profile pending', { rules: { ...rules, taxProfileRequired: false }, tax: { ...tax, status: 'PENDING_VALIDATION' } }, ['TAX_PROFILE_NOT_APPROVED']],
  ['tax not required, its profile expired', { rules: { ...rules, taxProfileRequired: false }, tax: { ...tax, expiresAt: now } }, []],
  ['unknown program', { rules: undefined, bank: { ...bank, currency: 'GBP' } }, ['PROGRAM_UNKNOWN']],
  ['unknown program, nothing there', { rules: undefined, bank: undefined, tax: undefined }, ['PROGRAM_UNKNOWN', 'BANK_PROFILE_MISSING', 'TAX_PROFILE_MISSING']],
  [
    'everything wrong',
    { bank: { currency: 'GBP', paymentMethod: 'CHECK', status: 'ACTION_REQUIRED' }, tax: { status: 'PENDING_VALIDATION', expiresAt: now } },
    ['BANK_PROFILE_NOT_APPROVED', 'CURRENCY_NOT_ALLOWED', 'PAYMENT_METHOD_NOT_ALLOWED', 'TAX_PROFILE_EXPIRED', 'TAX_PROFILE_NOT_APPROVED'],
  ],
];

describe('payout readiness rules', () => {
  it('is ready when every rule is met', () => expect(check({})).toEqual([]));

  it.each(cases)('%s -> %j', (_, input, expected) => expect(check(input)).toEqual(expected));

  // Over every input of the table: the codes answered (and the ones the table expects) outside the shared contract
  // are listed, so a stray code fails here by name.
  it.each(cases)('only answers codes of the shared contract: %s', (_, input, expected) => {
    const outside = (codes: string[]) => codes.filter((code) => !(MissingPayoutItems as readonly string[]).includes(code));
    expect({ answered: outside(check(input)), expected: outside(expected) }).toEqual({ answered: [], expected: [] });
  });
});
