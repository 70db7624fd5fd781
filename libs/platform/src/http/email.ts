import { buildMessage, isEmail, ValidateBy, ValidationOptions } from 'class-validator';

/** The longest address SMTP carries (RFC 5321's path limit, less its angle brackets). */
export const MAX_EMAIL_LENGTH = 254;

/** A UTF-16 surrogate without its pair: text that is no well-formed Unicode (JSON's `"\ud800"`). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether `text` is well-formed Unicode (String.prototype.isWellFormed, not in ES2022's library). */
export function wellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/**
 * Characters of no address mail can be sent to, or that no one can see: `isEmail` takes quoted local parts holding
 * line breaks or angle brackets (`"a\r\nb"@example.com`), which an SMTP client refuses in an envelope (nodemailer's
 * EENVELOPE, with no reply code: retried until the attempts run out, never delivered), and other control characters
 * there; and, anywhere, characters nobody sees (`gr\u200Bace@` would be a second user who looks like `grace@` in every
 * list): format characters (a zero-width space, a right-to-left override), the other default-ignorable ones (a Hangul
 * filler, a variation selector, a combining grapheme joiner), the blank braille pattern, and spaces other than the ASCII
 * one (an em space, an ideographic space: `isEmail` takes them in a local part). The zero-width non-joiner and joiner
 * (U+200C, U+200D), which Persian and Indic addresses need, only where IDNA's CONTEXTJ needs them: after a combining
 * mark (a virama) or an Arabic-script letter (`gra\u200Dce@` is refused). Other quoted local parts (`"j doe"@example.com`)
 * are sent.
 */
const UNDELIVERABLE =
  /[\r\n<>\p{Cc}\u2800]|(?![ \u200C\u200D])[\p{Cf}\p{Default_Ignorable_Code_Point}\p{White_Space}]|(?<![\p{M}\p{Script=Arabic}])[\u200C\u200D]/u;

/**
 * An address mail can be sent to: what `isEmail` takes, except a control character, an angle bracket (in a quoted
 * local part) or a character nobody sees (UNDELIVERABLE), and except compatibility forms, which read as other letters
 * (full-width `ｇｒａｃｅ@`, a ligature `ﬁ`: NFKC changes them); at most MAX_EMAIL_LENGTH characters; well-formed Unicode
 * (`isEmail` throws a URIError on a lone surrogate: a 500, not a 400).
 */
export function isDeliverableEmail(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length <= MAX_EMAIL_LENGTH &&
    wellFormed(value) &&
    !UNDELIVERABLE.test(value) &&
    value.normalize('NFKC') === value.normalize('NFC') &&
    isEmail(value)
  );
}

/** Validates a field with isDeliverableEmail ("<field> must be an email address"). */
export function IsDeliverableEmail(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isDeliverableEmail',
      validator: {
        validate: (value) => isDeliverableEmail(value),
        defaultMessage: buildMessage((each) => `${each}$property must be an email address`, options),
      },
    },
    options,
  );
}
