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

/** What people put between the characters of an IBAN, account number or tax id when they quote it. */
const SEPARATOR = '[\\s.\\-/]*';
const escapeRegExp = (c: string) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A run of this many digits or more looks like an account number or a tax id, whoever's it is. */
export const LONG_DIGIT_RUN = 8;

/**
 * Text that others may read (validation reasons: stored, answered, put in events and notifications) with secrets
 * masked as the API shows them: every occurrence of one of `secrets` (the profile's own, in clear), also quoted with
 * spaces, dots, dashes or slashes between its characters and in any letter case, becomes `maskSecret(secret)`
 * (`****3000`). Then, as a safety net for secrets this code does not know (an older revision's IBAN, another
 * account), every run of LONG_DIGIT_RUN or more digits keeps its last four only.
 */
export function maskSecretsIn(text: string, secrets: Array<string | undefined>): string {
  const known = [...new Set(secrets.map((s) => s?.replace(/[\s.\-/]/g, '') ?? '').filter(Boolean))].sort((a, b) => b.length - a.length);
  let masked = text;
  for (const secret of known) {
    const pattern = new RegExp([...secret].map(escapeRegExp).join(SEPARATOR), 'gi');
    masked = masked.replace(pattern, maskSecret(secret));
  }
  return masked.replace(new RegExp(`\\d{${LONG_DIGIT_RUN},}`, 'g'), (run) => maskSecret(run));
}
