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
 * one (an em space, an ideographic space: `isEmail` takes them in a local part). The zero-width joiner and non-joiner
 * (JOINERS) only where Indic and Persian addresses need them.
 */
const UNDELIVERABLE = /[\r\n<>\p{Cc}\u2800]|(?![ \u200C\u200D])[\p{Cf}\p{Default_Ignorable_Code_Point}\p{White_Space}]/u;

/** The viramas (Unicode's canonical combining class 9) of the scripts of Indic and South-East Asian addresses. */
const VIRAMAS = '\u094D\u09CD\u0A4D\u0ACD\u0B4D\u0BCD\u0C4D\u0CCD\u0D3B\u0D3C\u0D4D\u0DCA\u0E3A\u0EBA\u0F84\u1039\u103A\u1714\u1734\u17D2\u1A60\u1B44\u1BAA\u1BAB\u1BF2\u1BF3\uA806\uA8C4\uA953\uA9C0\uAAF6\uABED';

/**
 * A zero-width joiner or non-joiner where IDNA's CONTEXTJ rules do not call for it: a joiner only right after a virama;
 * a non-joiner after a virama, or between two Arabic-script letters (Persian's `می‌رود`; marks on them aside). Elsewhere
 * it changes nothing on screen (`gra\u200Dce@`, `jose\u0301\u200D@`, `علی\u200C@`): a second user who looks like another.
 */
const JOINERS = new RegExp(
  `(?<![${VIRAMAS}])\u200D|(?<![${VIRAMAS}])(?<!\\p{Script=Arabic}\\p{M}*)\u200C|(?<![${VIRAMAS}])\u200C(?!\\p{M}*(?=\\p{L})\\p{Script=Arabic})`,
  'u',
);

/**
 * Characters with a compatibility decomposition that are ordinary letters where they are used: Thai's and Lao's vowel
 * AM (ำ, ຳ) and Lao's HO NO and HO MO ligatures. Every other one reads as other characters (full-width `ｇｒａｃｅ`,
 * a ligature `ﬁ`, Arabic presentation forms, Roman numerals `ⅰ`, a long `ſ`, superscripts, a one dot leader `․`).
 */
const ORDINARY_COMPATIBILITY = /[\u0E33\u0EB3\u0EDC\u0EDD]/g;

/** Whether the address holds a compatibility form (NFKC changes it, but ORDINARY_COMPATIBILITY). */
function holdsCompatibilityForm(value: string): boolean {
  const rest = value.replace(ORDINARY_COMPATIBILITY, '');
  return rest.normalize('NFKC') !== rest.normalize('NFC');
}

/**
 * An address mail can be sent to: what `isEmail` takes, except a control character, an angle bracket (in a quoted
 * local part), a character nobody sees (UNDELIVERABLE, JOINERS) or a compatibility form (holdsCompatibilityForm); at most
 * MAX_EMAIL_LENGTH characters; well-formed Unicode (`isEmail` throws a URIError on a lone surrogate: a 500, not a 400).
 */
export function isDeliverableEmail(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length <= MAX_EMAIL_LENGTH &&
    wellFormed(value) &&
    !UNDELIVERABLE.test(value) &&
    !JOINERS.test(value) &&
    !holdsCompatibilityForm(value) &&
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
