import type { FieldProblem } from '@lib/platform';

/** Shorter secrets would be found in ordinary text (a street number, a year). */
const SHORTEST_FOUND_IN_TEXT = 6;

/** Letters and digits only, compatibility-normalized and upper-cased: a secret is found whatever stands between them. */
export const plainText = (text: string): string => text.normalize('NFKC').replace(/[^\p{L}\p{N}]/gu, '').toUpperCase();

/**
 * Text stored and shown in clear (names, file names: in lists, events, emails, to every reader of the profile) must not
 * hold one of `secrets` (account numbers, tax ids, SPEC 1 Payout 5: shown masked only, never in events), whatever
 * stands between its characters: 400 naming each field, `message` saying what. Undefined or short secrets are not
 * looked for.
 */
export function secretsInTextProblems(secrets: Array<string | undefined>, texts: Array<[field: string, text: string | undefined]>, message: string): FieldProblem[] {
  const wanted = [...new Set(secrets.flatMap((secret) => (secret ? writtenAs(plainText(secret)) : [])))].filter((s) => s.length >= SHORTEST_FOUND_IN_TEXT);
  if (wanted.length === 0) return [];
  return texts
    .filter(([, text]) => text !== undefined && wanted.some((w) => plainText(text).includes(w)))
    .map(([field]) => ({ field, message }));
}

/**
 * A secret as people also write it: without its leading zeros (an account number `000123456789` written `123456789`),
 * and, one that starts with a country's two letters (a VAT id `DE123456789`), without them.
 */
function writtenAs(secret: string): string[] {
  const unprefixed = /^[A-Z]{2}\d/.test(secret) ? secret.slice(2) : secret;
  return [secret, unprefixed, secret.replace(/^0+/, ''), unprefixed.replace(/^0+/, '')];
}
