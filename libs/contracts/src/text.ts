/**
 * What text holds, for text people type (Text() in the platform lib) and text outside systems send (an eligibility
 * system's reasons, a back office's): one definition of "blank" and of the characters nobody should be shown.
 */

/** Something visible: not white space, nor a format character nobody sees (zero-width space, soft hyphen, BOM). */
export const VISIBLE = /[^\s\p{Cf}]/u;

/**
 * Control characters (C0 but tab and line breaks, DEL, C1) and the bidirectional embeddings, overrides and isolates,
 * which make text read other than it is stored ("Trojan Source"): a name is shown in emails, lists and the portal.
 */
export const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;

/** Nothing visible in it: white space, or format characters nobody sees (a zero-width space alone), or nothing. */
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
