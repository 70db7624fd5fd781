import { extractIBAN } from 'ibantools';
import type { FieldProblem } from '@lib/platform';
import { plainText, secretsInTextProblems, StoredSecret } from '../profiles/secrets-in-text';
import { publicEnd } from '../secrets/masking';

/** A check is mailed: the beneficiary needs a mailing address when the payment method is CHECK. */
export function beneficiaryProblems(paymentMethod: string, beneficiary: { address?: unknown }): FieldProblem[] {
  return paymentMethod === 'CHECK' && !beneficiary.address
    ? [{ field: 'beneficiary.address', message: 'is required when the payment method is CHECK (where the check is mailed)' }]
    : [];
}

/** The beneficiary's texts every reader of the profile sees in clear (its name, email and address lines). */
export interface BeneficiaryTexts {
  name?: string;
  email?: string;
  address?: { line1?: string; line2?: string };
}

/** The beneficiary's texts checked for the account (secretInTextProblems), each named by its field. */
export function beneficiaryTexts(beneficiary: BeneficiaryTexts | undefined): Array<[field: string, text: string | undefined]> {
  return [
    ['beneficiary.name', beneficiary?.name],
    ['beneficiary.email', beneficiary?.email],
    ['beneficiary.address.line1', beneficiary?.address?.line1],
    ['beneficiary.address.line2', beneficiary?.address?.line2],
  ];
}

/**
 * Text stored and shown in clear (the profile's name, the beneficiary's name: in lists, events, emails to every admin
 * of the locations it serves; the bank's name and the beneficiary's email and address, shown to every reader of the
 * profile, Incentives users included) must not hold the account number
 * or IBAN (`secret`, as stored: letters and digits), nor an IBAN's BBAN (the IBAN less its country and check digits)
 * or the national account number within it (a German IBAN's last ten digits, a British one's last eight: what a bank
 * statement shows), whatever stands between its characters, with or without leading zeros (secretsInTextProblems):
 * 400 naming the field. Undefined `secret`: nothing to compare with. The stored account, when the request sends none
 * (StoredSecret): by the last four the API shows of it only (each of these ends with them).
 */
export function secretInTextProblems(secret: string | StoredSecret | undefined, texts: Array<[field: string, text: string | undefined]>): FieldProblem[] {
  const message = 'must not contain the account number or IBAN (it is shown and sent in clear)';
  if (typeof secret === 'object') return secretsInTextProblems([secret], texts, message);
  const whole = secret ? plainText(secret) : '';
  const { valid, bban } = extractIBAN(whole);
  // The account number inside the IBAN: what follows its public part (publicEnd, as masking has it).
  const within = valid && bban ? [bban, whole.slice(publicEnd(whole))] : [];
  return secretsInTextProblems([whole, ...within], texts, message);
}
