/**
 * What text holds, for text people type (Text() in the platform lib) and text outside systems send (an eligibility
 * system's reasons, a back office's): one definition of "blank" and of the characters nobody should be shown.
 */

/**
 * Characters nobody sees: format characters (zero-width space and joiners, soft hyphen, BOM), the other default
 * ignorable ones (a combining grapheme joiner, variation selectors, Mongolian selectors, Hangul fillers) and the
 * blank braille pattern, which fonts draw empty. Global: for `replace`.
 */
const UNSEEN_CHARACTERS = '\\p{Cf}\\p{Default_Ignorable_Code_Point}\\u2800';
export const UNSEEN = new RegExp(`[${UNSEEN_CHARACTERS}]`, 'gu');

/** Something visible: not white space, nor a character nobody sees (UNSEEN). */
export const VISIBLE = new RegExp(`[^\\s${UNSEEN_CHARACTERS}]`, 'u');

/**
 * Control characters (C0 but tab and line breaks, DEL, C1) and the bidirectional embeddings, overrides and isolates,
 * which make text read other than it is stored ("Trojan Source"): a name is shown in emails, lists and the portal.
 */
export const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;

/**
 * Whether two texts people typed are the same text: equal once both are in composed form (NFC). Text is taken so
 * (Text() in the platform lib); one stored decomposed before then ("Cafe\u0301") is the same as sent again.
 */
export function sameText(a: string, b: string): boolean {
  return a === b || a.normalize('NFC') === b.normalize('NFC');
}

/** Nothing visible in it: white space, or characters nobody sees (a zero-width space alone), or nothing. */
export function isBlankText(value: string): boolean {
  return !VISIBLE.test(value);
}

/**
 * `value` without its control characters and bidirectional overrides (tabs and line breaks kept): for text an outside
 * system sent, which is taken rather than refused (a dead letter would lose the decision it explains).
 */
export function withoutControls(value: string): string {
  return value.replace(new RegExp(CONTROL.source, 'g'), '');
}
