import type { FieldProblem } from '@lib/platform';
import { asciiDigits, SHORTEST_WITH_LAST_FOUR } from '../secrets/masking';

/** Shorter secrets would be found in ordinary text (a street number, a year). */
const SHORTEST_FOUND_IN_TEXT = 6;

/**
 * Letters and digits only, compatibility-normalized, digits as ASCII's (asciiDigits) and upper-cased: a secret is found
 * whatever stands between them, and in whatever digits it is written.
 */
export const plainText = (text: string): string => asciiDigits(text.normalize('NFKC')).replace(/[^\p{L}\p{N}]/gu, '').toUpperCase();

/**
 * A secret stored, which the request does not carry: its caller is shown it masked only (maskSecret). Compared in full
 * with the texts sent, the answer would tell whether a text held it: a text holds hundreds of candidates, so an editor
 * shown `****6789` could find the rest of a tax id in a few hundred requests. It is looked for by what the API shows of
 * it alone (its last four, from eight characters on; nothing when masked whole): a text holding them after two more
 * of their kind (digits, or letters and digits) is refused, the secret written whole or a number that only ends as it
 * does (which the answer says), so the answer depends on nothing the caller is not shown.
 */
export interface StoredSecret {
  stored: string | undefined;
}

/**
 * Text stored and shown in clear (names, file names: in lists, events, emails, to every reader of the profile) must not
 * hold one of `secrets` (account numbers, tax ids, SPEC 1 Payout 5: shown masked only, never in events), whatever
 * stands between its characters: 400 naming each field, `message` saying what. A secret the request sends is looked
 * for whole (its author knows it); one stored (StoredSecret) by its shown ending only. Undefined or short secrets are
 * not looked for.
 */
export function secretsInTextProblems(
  secrets: Array<string | StoredSecret | undefined>,
  texts: Array<[field: string, text: string | undefined]>,
  message: string,
): FieldProblem[] {
  const sent = secrets.filter((secret): secret is string => typeof secret === 'string');
  const wanted = [...new Set(sent.flatMap((secret) => writtenAs(plainText(secret))))].filter((s) => s.length >= SHORTEST_FOUND_IN_TEXT);
  const endings = secrets.flatMap((secret) => (secret && typeof secret === 'object' ? shownEnding(secret.stored) : []));
  if (wanted.length === 0 && endings.length === 0) return [];
  return texts.flatMap(([field, text]): FieldProblem[] => {
    if (text === undefined) return [];
    const plain = plainText(text);
    if (wanted.some((w) => plain.includes(w))) return [{ field, message }];
    if (endings.some((ending) => ending.test(plain))) return [{ field, message: `${message}; a number ending in its last four is taken for it` }];
    return [];
  });
}

/** What the API shows of a stored secret (its last four), as the end of a longer number or code in a plain text. */
function shownEnding(stored: string | undefined): RegExp[] {
  const plain = stored ? plainText(stored) : '';
  if (plain.length < SHORTEST_WITH_LAST_FOUR) return [];
  const last = plain.slice(-4);
  return [new RegExp(`${/^\d+$/.test(last) ? '\\d' : '[\\p{L}\\p{N}]'}{2}${last}`, 'u')];
}

/**
 * A secret as people also write it: without its leading zeros (an account number `000123456789` written `123456789`),
 * and, one that starts with a country's two letters (a VAT id `DE123456789`), without them.
 */
function writtenAs(secret: string): string[] {
  const unprefixed = /^[A-Z]{2}\d/.test(secret) ? secret.slice(2) : secret;
  return [secret, unprefixed, secret.replace(/^0+/, ''), unprefixed.replace(/^0+/, '')];
}
