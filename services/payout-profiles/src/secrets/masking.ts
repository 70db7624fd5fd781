/**
 * What the API shows of a secret (SPEC §1 Payout 5: "shown masked (last four characters)"): a fixed mask and its last
 * four characters, never its length; a US account number `12345678` shows as `****5678`. A secret of four characters
 * or fewer (a short foreign TIN or VAT id) is masked whole, as `********`: its last four would be all of it, which is
 * not masking.
 */
export function maskSecret(value: string): string {
  return value.length > 4 ? `****${value.slice(-4)}` : '********';
}
