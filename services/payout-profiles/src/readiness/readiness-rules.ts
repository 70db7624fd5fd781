import { MissingPayoutItem, MissingPayoutItems, PaymentMethod, PayoutRules, ProfileStatus } from '@lib/contracts';
import { isExpired } from '../tax-profiles/tax-rules';

export { MissingPayoutItems };
export type { MissingPayoutItem };

export interface ReadinessInput {
  /** The program's payout rules; undefined when this service has not heard of the program. */
  rules?: PayoutRules;
  bank?: { currency: string; paymentMethod: PaymentMethod; status: ProfileStatus };
  tax?: { status: ProfileStatus; expiresAt: Date };
  now: Date;
}

/**
 * What keeps a location from meeting a program's payout rules, in the order of MissingPayoutItems.
 * An unknown program cannot be checked for currency or payment method; its tax profile is then checked as if
 * the program required one, so the answer never says "ready" for a program nobody knows.
 */
export function missingPayoutItems({ rules, bank, tax, now }: ReadinessInput): MissingPayoutItem[] {
  const missing = new Set<MissingPayoutItem>();
  if (!rules) missing.add('PROGRAM_UNKNOWN');
  if (!bank) {
    missing.add('BANK_PROFILE_MISSING');
  } else {
    if (bank.status !== 'APPROVED') missing.add('BANK_PROFILE_NOT_APPROVED');
    if (rules && !rules.allowedCurrencies.includes(bank.currency)) missing.add('CURRENCY_NOT_ALLOWED');
    if (rules && !rules.allowedPaymentMethods.includes(bank.paymentMethod)) missing.add('PAYMENT_METHOD_NOT_ALLOWED');
  }
  const required = !rules || rules.taxProfileRequired;
  if (!tax) {
    if (required) missing.add('TAX_PROFILE_MISSING');
  } else {
    // Its expiry matters to a program that requires one; its validation to every enrollment, which uses the location's
    // tax profile whenever there is one (the enrollment service's rule: Enroll proposes it, ENROLLED once validated).
    if (required && isExpired(tax.expiresAt, now)) missing.add('TAX_PROFILE_EXPIRED');
    if (tax.status !== 'APPROVED') missing.add('TAX_PROFILE_NOT_APPROVED');
  }
  return MissingPayoutItems.filter((code) => missing.has(code));
}
