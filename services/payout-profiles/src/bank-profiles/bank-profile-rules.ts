import { extractIBAN } from 'ibantools';
import type { FieldProblem } from '@lib/platform';

/** A check is mailed: the beneficiary needs a mailing address when the payment method is CHECK. */
export function beneficiaryProblems(paymentMethod: string, beneficiary: { address?: unknown }): FieldProblem[] {
  return paymentMethod === 'CHECK' && !beneficiary.address
    ? [{ field: 'beneficiary.address', message: 'is required when the payment method is CHECK (where the check is mailed)' }]
    : [];
}

/** Shorter account numbers would be found in ordinary text (a street number, a year). */
const SHORTEST_FOUND_IN_TEXT = 6;

/**
 * Text stored and shown in clear (the profile's name, the beneficiary's name: in lists, events, emails to every admin
 * of the locations it serves; the bank's name, shown to every reader of the profile) must not hold the account number or IBAN (`secret`, as stored: letters and digits), nor
 * an IBAN's BBAN (the IBAN less its country and check digits, which holds the account number), whatever stands
 * between its characters: 400 naming the field. Undefined `secret`: nothing to compare with.
 */
export function secretInTextProblems(secret: string | undefined, texts: Array<[field: string, text: string | undefined]>): FieldProblem[] {
  const plain = (text: string) => text.normalize('NFKC').replace(/[^\p{L}\p{N}]/gu, '').toUpperCase();
  const whole = secret ? plain(secret) : '';
  const { valid, bban } = extractIBAN(whole);
  const wanted = [whole, ...(valid && bban ? [bban] : [])].filter((s) => s.length >= SHORTEST_FOUND_IN_TEXT);
  if (wanted.length === 0) return [];
  return texts
    .map(([field, text]): [string, string | undefined] => [field, text === undefined ? undefined : plain(text)])
    .filter(([, text]) => text !== undefined && wanted.some((w) => text.includes(w)))
    .map(([field]) => ({ field, message: 'must not contain the account number or IBAN (it is shown and sent in clear)' }));
}
