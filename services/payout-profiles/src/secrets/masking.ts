import { MAX_REASON_LENGTH } from '@lib/contracts';
import { extractIBAN } from 'ibantools';
import { IBAN_LENGTHS, ibanChecksumValid } from '../reference/iban';

/**
 * What the API shows of a secret (SPEC §1 Payout 5: "shown masked (last four characters)"): a fixed mask and its last
 * four characters, never its length; a US account number `12345678` shows as `****5678`. A secret shorter than eight
 * characters (a short foreign TIN or VAT id) is masked whole, as `********`: its last four would be most or all of it
 * (four of five characters leave one to guess), which is not masking. Eight or more keep at least half hidden.
 */
export const SHORTEST_WITH_LAST_FOUR = 8;

const WHOLE_MASK = '********';

export function maskSecret(value: string): string {
  return value.length >= SHORTEST_WITH_LAST_FOUR ? `****${value.slice(-4)}` : WHOLE_MASK;
}

/**
 * What people put between the characters of an IBAN, account number or tax id when they quote it: any blank (no-break
 * spaces too), dots, commas, underscores, slashes and any dash (hyphen, en and em dashes, the non-breaking hyphen, the
 * minus sign: text pasted from a document or a PDF has them). The text is NFKC-normalized first, so full-width digits,
 * letters and dashes are these.
 */
const SEPARATOR_CHAR = '[\\s.,_/\\p{Pd}\\u2212]';

/** The end of a known secret this long or longer, quoted on its own, is masked (four: what the mask shows anyway). */
const SHORTEST_PART = 5;
/**
 * Any other part of a secret this long or longer, quoted on its own, is masked (of one that is no IBAN): the first four of
 * an eight-character account number and the last four the API shows are all of it.
 */
const SHORTEST_PIECE = 4;

/** This many digits or more in a row (separators between them allowed) look like an account number or a tax id, whoever's it is. */
export const LONG_DIGIT_RUN = 8;

/** An IBAN as people write it: country, check digits, then 10 to 30 letters or digits, maybe grouped by a separator. */
const IBAN_LIKE = new RegExp(`\\b[A-Z]{2}\\d{2}(?:${SEPARATOR_CHAR}?[A-Z0-9]){10,30}\\b`, 'gu');
/**
 * Digits with separators between them (up to three: `12 - 3456789`), LONG_DIGIT_RUN of them or more: `DE 123 456 789`,
 * `12-3456789`, `123-45-6789`.
 */
const DIGIT_RUN = new RegExp(`\\d(?:${SEPARATOR_CHAR}{0,3}\\d){${LONG_DIGIT_RUN - 1},}`, 'gu');
/** Digits with separators between them, SHORTEST_PIECE of them or more: what `wholeDigitRuns` masks whole. */
const SHORT_DIGIT_RUN = new RegExp(`\\d(?:${SEPARATOR_CHAR}{0,3}\\d){${SHORTEST_PIECE - 1},}`, 'gu');
/** A date of a year 19xx or 20xx with a real month and day (`1234-56-78` is none), with any dash. */
const DASH = '[\\p{Pd}\\u2212]';
const ISO_DATE = `(?:19|20)\\d{2}${DASH}(?:0[1-9]|1[0-2])${DASH}(?:0[1-9]|[12]\\d|3[01])`;
const YEAR = '(?:19|20)\\d{2}';
const GAP = `${SEPARATOR_CHAR}{1,3}`;
/**
 * What is no secret though written with eight digits or more, split out before digit runs are looked for: a date
 * (`2026-07-01`, also with its time), two dates (`2026-07-01 - 2026-12-31`) and a pair of years (`2025 - 2026`),
 * each standing on its own: with digits next to it (`1234 2019 2020 5678`, `4321 2019-05-12 8765`) it is part of a run
 * like any digits.
 */
const NOT_SECRET = new RegExp(
  `(?<!\\d)(?<!\\d${SEPARATOR_CHAR}{1,3})(${ISO_DATE}${GAP}${ISO_DATE}|${ISO_DATE}|${YEAR}${GAP}${YEAR})(?!${SEPARATOR_CHAR}{0,3}\\d)`,
  'u',
);
/**
 * A valid IBAN (its country's length and its check digits), given normalized: one quoted in any case or grouping. Every
 * country's IBAN holds eight digits or more; words joined to a country code (`is 90 months old ...`) that pass the
 * check by chance (one in 97) hold fewer.
 */
const isIban = (normalized: string) =>
  IBAN_LENGTHS[normalized.slice(0, 2)] === normalized.length && (normalized.match(/\d/g)?.length ?? 0) >= LONG_DIGIT_RUN && ibanChecksumValid(normalized);
/** A quoted secret without the separators people put in it. */
const SEPARATORS = new RegExp(SEPARATOR_CHAR, 'gu');
export const plain = (quoted: string) => quoted.normalize('NFKC').replace(SEPARATORS, '');

/**
 * Text that others may read (validation reasons: stored, answered, put in events and notifications) with secrets
 * masked as the API shows them (NFKC-normalized, its digits ASCII's: asciiDigits): every occurrence of one of `secrets` (the profile's own, in clear),
 * also quoted with up to MOST_BETWEEN characters that are no letter or digit between its characters (maskKnown) and in any
 * letter case, becomes `maskSecret(secret)`
 * (`****3000`), and so does its end of five characters or more quoted on its own (`ending 1234567`). Then every
 * quoted value `superseded` recognizes (an older revision's secret, known by its digest: maskRecognized). Then, as a safety net for secrets this code does not know (another account, a profile whose
 * secrets cannot be opened, a superseded one whose digest's key is gone), every valid IBAN (in any case, grouped by up to
 * three separators), anything else written like an IBAN, and every run of LONG_DIGIT_RUN or more digits (grouped by up to
 * three separators or not; dates and year pairs standing on their own excepted), keeps its last four characters only.
 * `wholeDigitRuns`: every run of SHORTEST_PIECE digits or more is masked whole instead (`********`), for a text that may
 * quote part of a secret this code knows by its digest only (a replaced account's middle digits, which no digest of the
 * whole recognizes), as maskKnown masks such a part of a secret it knows.
 */
export function maskSecretsIn(text: string, secrets: Array<string | undefined>, superseded?: (normalized: string) => boolean, { wholeDigitRuns = false } = {}): string {
  // As maskKnown reads the text: its letters and digits only.
  const known = [...new Set(secrets.map((s) => (s ? asciiDigits(s.normalize('NFKC')).replace(NOT_LETTER_OR_DIGIT, '').toUpperCase() : '')).filter(Boolean))];
  let masked = maskKnown(asciiDigits(text.normalize('NFKC')), known);
  if (superseded) masked = maskRecognized(masked, superseded);
  // Valid IBANs however quoted (lower case, wide gaps: `fr14 2004 ...`, `DE89  3704 ...`), then anything IBAN-shaped.
  masked = maskRecognized(masked, isIban).replace(IBAN_LIKE, (iban) => maskSecret(plain(iban)));
  // Dates and year pairs stay (the odd parts of the split), also next to each other (`2026-07-01 - 2026-12-31`).
  return masked
    .split(NOT_SECRET)
    .map((part, i) => (i % 2 ? part : wholeDigitRuns ? part.replace(SHORT_DIGIT_RUN, WHOLE_MASK) : part.replace(DIGIT_RUN, (run) => maskSecret(plain(run)))))
    .join('');
}

/** A decimal digit of another script than ASCII's (Arabic-Indic, Devanagari, ...): NFKC leaves them as they are. */
const OTHER_DIGIT = /(?![0-9])\p{Nd}/gu;
const DECIMAL_DIGIT = /\p{Nd}/u;

/**
 * Every decimal digit as its ASCII digit: a secret quoted in Arabic-Indic digits (`٠٥٣٢٠١٣٠٠٠`) is the secret, and the
 * runs below (`\d`) read ASCII digits only. Decimal digits come in runs of ten from their zero (Unicode's stability
 * policy), so a digit's value is its distance from the start of its run, modulo ten (mathematical digits run fifty).
 */
export function asciiDigits(text: string): string {
  return text.replace(OTHER_DIGIT, (digit) => {
    const at = digit.codePointAt(0)!;
    let start = at;
    while (DECIMAL_DIGIT.test(String.fromCodePoint(start - 1))) start--;
    return String((at - start) % 10);
  });
}

const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;
const NOT_LETTER_OR_DIGIT = /[^\p{L}\p{N}]/gu;
/** At most this many other characters between two characters of a quoted secret (`12 - 3456789`, `123' 456`). */
const MOST_BETWEEN = 3;

/**
 * Masks the profile's own secrets (`known`: without separators, upper case) in `text`, looking only at its letters and
 * digits, so that whatever stands between them (up to MOST_BETWEEN characters: any blank, dash, dot, colon, pipe,
 * apostrophe...) does not matter, nor letter case:
 *  - a whole secret, anywhere: `maskSecret(secret)` (`****6789`);
 *  - its end of SHORTEST_PART characters or more quoted on its own (`account ending 1234567`): masked as such (what is
 *    left shown is the secret's last four, which the API shows anyway);
 *  - its last four quoted on its own, of a secret shorter than SHORTEST_WITH_LAST_FOUR (whose mask shows none of it):
 *    `********`;
 *  - any other part of SHORTEST_PIECE or more quoted on its own, of a secret that is no IBAN (`EIN beginning 12-34567`,
 *    an SSN's area and group `123-45`): masked whole (`********`), since with the last four the API shows it would
 *    give the rest away. Of an IBAN, a part within its bank and branch codes stays (`sort code 60-16-13`: public, and
 *    what a validator names); any other part is masked whole (the account number inside a Belgian IBAN).
 * "On its own": beginning and ending where a word does (not the `12345` inside `ref 9123456`).
 */
function maskKnown(text: string, known: string[]): string {
  if (known.length === 0) return text;
  const chars: Array<{ ch: string; at: number; end: number }> = [];
  for (let at = 0; at < text.length; ) {
    const ch = String.fromCodePoint(text.codePointAt(at)!);
    if (LETTER_OR_DIGIT.test(ch)) chars.push({ ch: ch.toUpperCase(), at, end: at + ch.length });
    at += ch.length;
  }
  const publicEnds = new Map(known.filter((secret) => isIban(secret)).map((iban) => [iban, publicEnd(iban)]));
  const wordStart = (i: number) => i === 0 || chars[i - 1].end !== chars[i].at;
  const wordEnd = (i: number) => i === chars.length - 1 || chars[i].end !== chars[i + 1].at;
  const spans: Array<{ start: number; end: number; mask: string }> = [];
  for (let i = 0; i < chars.length; ) {
    let found: { length: number; mask: string } | undefined;
    let value = '';
    for (let j = i; j < chars.length; j++) {
      if (j > i && chars[j].at - chars[j - 1].end > MOST_BETWEEN) break;
      value += chars[j].ch;
      if (!known.some((secret) => secret.includes(value))) break;
      const whole = known.find((secret) => secret === value);
      if (whole) found = { length: j - i + 1, mask: maskSecret(whole) };
      else if (value.length >= SHORTEST_PIECE && wordStart(i) && wordEnd(j)) {
        const inner = known.some((secret) => secret.includes(value) && !secret.endsWith(value) && !withinPublicPart(secret, value, publicEnds.get(secret)));
        const ends = known.filter((secret) => secret.endsWith(value));
        if (inner) found = { length: j - i + 1, mask: WHOLE_MASK };
        else if (ends.length && value.length >= SHORTEST_PART) found = { length: j - i + 1, mask: maskSecret(value) };
        // Its last four: what the API shows anyway, unless the secret is too short for that (masked whole there).
        else if (ends.some((secret) => secret.length < SHORTEST_WITH_LAST_FOUR)) found = { length: j - i + 1, mask: WHOLE_MASK };
      }
    }
    if (found) {
      spans.push({ start: chars[i].at, end: chars[i + found.length - 1].end, mask: found.mask });
      i += found.length;
    } else i++;
  }
  let masked = text;
  for (const span of spans.reverse()) masked = masked.slice(0, span.start) + span.mask + masked.slice(span.end);
  return masked;
}

/**
 * Where an IBAN's public part ends: its country, check digits and the bank and branch codes at the head of its BBAN
 * (the SWIFT registry's structure, from ibantools: `GB29 NWBK 601613 ...` ends after the sort code, `BE68 539 ...` after
 * the three-digit bank code, whose account number follows inside the IBAN). Where the registry gives none, the country
 * and check digits only.
 */
export function publicEnd(iban: string): number {
  const { bban = '', bankIdentifier, branchIdentifier } = extractIBAN(iban);
  let end = 0;
  for (const code of [bankIdentifier, branchIdentifier]) {
    const at = code ? bban.indexOf(code, end) : -1;
    if (at >= 0 && at <= end + 1) end = at + code!.length; // at the head (IT's national check character before)
  }
  return 4 + end;
}

/**
 * Whether `value` stands in `secret` only within its public part (an IBAN's bank and branch codes: from its fifth
 * character to publicEnd), everywhere it stands there: a part of the account number inside the IBAN (BE, NO, FI: the
 * account number is followed by national check digits) is masked, the bank and branch codes (`sort code 60-16-13`) are
 * not, and neither are the check digits: with the bank code and the last four the API shows, the IBAN's two checksums
 * would leave a short IBAN (Norway's, Belgium's) a handful of candidates.
 */
function withinPublicPart(secret: string, value: string, end: number | undefined): boolean {
  if (end === undefined) return false;
  for (let at = secret.indexOf(value); at >= 0; at = secret.indexOf(value, at + 1)) {
    if (at < 4 || at + value.length > end) return false;
  }
  return true;
}

/** Quoted values are looked for as runs of up to this many letter-or-digit groups (`DE89 3704 0044 0532 0130 00`: 6). */
const MOST_GROUPS = 10;
const SHORTEST_SECRET = 4;
const LONGEST_SECRET = 34;
const GROUP = /[A-Za-z0-9]+/g;
const BETWEEN_GROUPS = new RegExp(`^${SEPARATOR_CHAR}{0,3}$`, 'u');

/**
 * Masks every quoted value `recognized` says is a secret (given normalized: without separators, upper case): each run
 * of letter-or-digit groups with at most a few separators between them is tried from each group on, longest first, so
 * that `Account 7654321 is closed` tries `7654321` and `DE89 3704 ...` the whole IBAN.
 */
export function maskRecognized(text: string, recognized: (normalized: string) => boolean): string {
  const groups = [...text.matchAll(GROUP)].map((m) => ({ start: m.index!, end: m.index! + m[0].length, value: m[0] }));
  const spans: Array<{ start: number; end: number; value: string }> = [];
  for (let i = 0; i < groups.length; i++) {
    let found: { end: number; value: string; next: number } | undefined;
    let value = '';
    for (let j = i; j < groups.length && j < i + MOST_GROUPS; j++) {
      if (j > i && !BETWEEN_GROUPS.test(text.slice(groups[j - 1].end, groups[j].start))) break;
      value += groups[j].value.toUpperCase();
      if (value.length > LONGEST_SECRET) break;
      if (value.length >= SHORTEST_SECRET && recognized(value)) found = { end: groups[j].end, value, next: j + 1 };
    }
    if (found) {
      spans.push({ start: groups[i].start, end: found.end, value: found.value });
      i = found.next - 1;
    }
  }
  let masked = text;
  for (const span of spans.reverse()) masked = masked.slice(0, span.start) + maskSecret(span.value) + masked.slice(span.end);
  return masked;
}

/**
 * A masked reason at most MAX_REASON_LENGTH characters (code points, as the contract counts), as the reason was: masking
 * reads the text NFKC-normalized, which can make it many times longer (one U+FDFA is 18 characters), and a mask can be
 * longer than what it hides. Cut with an ellipsis: dropping characters reveals nothing a mask hid.
 */
export function clipped(reason: string): string {
  const chars = Array.from(reason);
  return chars.length <= MAX_REASON_LENGTH ? reason : `${chars.slice(0, MAX_REASON_LENGTH - 1).join('')}\u2026`;
}

/**
 * The reasons as events and the API show them: masked again (every valid IBAN, anything written like one, every run of eight
 * or more digits keeps its last four), for reasons stored before they were masked as they are recorded (README), which
 * any later event of the profile (a change of its locations alone) and every read would otherwise show as stored. Reasons masked
 * already come out the same. Each at most MAX_REASON_LENGTH characters (clipped: NFKC may have made it longer).
 */
export const publicReasons = (reasons: string[]) => reasons.map((reason) => clipped(maskSecretsIn(reason, [])));
