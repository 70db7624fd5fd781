import type { FieldProblem } from '@lib/platform';

/** A check is mailed: the beneficiary needs a mailing address when the payment method is CHECK. */
export function beneficiaryProblems(paymentMethod: string, beneficiary: { address?: unknown }): FieldProblem[] {
  return paymentMethod === 'CHECK' && !beneficiary.address
    ? [{ field: 'beneficiary.address', message: 'is required when the payment method is CHECK (where the check is mailed)' }]
    : [];
}
