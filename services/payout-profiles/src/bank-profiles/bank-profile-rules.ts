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
 * of the locations it serves; the bank's name, shown to every reader of the profile) must not hold the account number
 * or IBAN (`secret`, as stored: letters and digits), nor an IBAN's BBAN (the IBAN less its country and check digits)
 * or the national account number within it (a German IBAN's last ten digits, a British one's last eight: what a bank
 * statement shows), whatever stands between its characters, with or without leading zeros (secretsInTextProblems):
 * 400 naming the field. Undefined `secret`: nothing to compare with.
 */
export function secretInTextProblems(secret: string | undefined, texts: Array<[field: string, text: string | undefined]>): FieldProblem[] {
  const whole = secret ? plainText(secret) : '';
  const iban = extractIBAN(whole);
  const within = iban.valid && iban.bban ? [iban.bban, ibanAccountNumber(iban)] : [];
  return secretsInTextProblems([whole, ...within], texts, 'must not contain the account number or IBAN (it is shown and sent in clear)');
}

/**
 * The national account number an IBAN holds: as the IBAN registry names it where ibantools knows it; else the BBAN
 * after its bank and branch identifiers (a British IBAN's sort code, then the account number).
 */
function ibanAccountNumber({ bban = '', accountNumber, bankIdentifier = '', branchIdentifier = '' }: ReturnType<typeof extractIBAN>): string | undefined {
  if (accountNumber) return accountNumber;
  const identifiers = bankIdentifier + branchIdentifier;
  return identifiers && bban.startsWith(identifiers) ? bban.slice(identifiers.length) : undefined;
}
