import { extractIBAN } from 'ibantools';
import type { FieldProblem } from '@lib/platform';
import { plainText, secretsInTextProblems } from '../profiles/secrets-in-text';

/** A check is mailed: the beneficiary needs a mailing address when the payment method is CHECK. */
export function beneficiaryProblems(paymentMethod: string, beneficiary: { address?: unknown }): FieldProblem[] {
  return paymentMethod === 'CHECK' && !beneficiary.address
    ? [{ field: 'beneficiary.address', message: 'is required when the payment method is CHECK (where the check is mailed)' }]
    : [];
}

/**
 * Text stored and shown in clear (the profile's name, the beneficiary's name: in lists, events, emails to every admin
 * of the locations it serves; the bank's name, shown to every reader of the profile) must not hold the account number or IBAN (`secret`, as stored: letters and digits), nor
 * an IBAN's BBAN (the IBAN less its country and check digits, which holds the account number), whatever stands
 * between its characters: 400 naming the field. Undefined `secret`: nothing to compare with.
 */
export function secretInTextProblems(secret: string | undefined, texts: Array<[field: string, text: string | undefined]>): FieldProblem[] {
  const whole = secret ? plainText(secret) : '';
  const { valid, bban } = extractIBAN(whole);
  return secretsInTextProblems([whole, ...(valid && bban ? [bban] : [])], texts, 'must not contain the account number or IBAN (it is shown and sent in clear)');
}
