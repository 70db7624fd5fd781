/**
 * What the API shows of a secret (SPEC §1 Payout 5: "shown masked (last four characters)"): a fixed mask and its last
 * four characters, never its length; a US account number `12345678` shows as `****5678`. A secret shorter than eight
 * characters (a short foreign TIN or VAT id) is masked whole, as `********`: its last four would be most or all of it
 * (four of five characters leave one to guess), which is not masking. Eight or more keep at least half hidden.
 */
export const SHORTEST_WITH_LAST_FOUR = 8;

export function maskSecret(value: string): string {
  return value.length >= SHORTEST_WITH_LAST_FOUR ? `****${value.slice(-4)}` : '********';
}
