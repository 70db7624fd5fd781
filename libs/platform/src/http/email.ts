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
 * there; and invisible format characters anywhere (a zero-width space, a right-to-left override: `gr\u200Bace@` would
 * be a second user who looks like `grace@` in every list), but the zero-width non-joiner and joiner (U+200C, U+200D),
 * which Persian and Indic addresses need (IDNA's CONTEXTJ). Other quoted local parts (`"j doe"@example.com`) are sent.
 */
const UNDELIVERABLE = /[\r\n<>\p{Cc}]|(?![\u200C\u200D])\p{Cf}/u;

/**
 * An address mail can be sent to: what `isEmail` takes, except a control character, an angle bracket (in a quoted
 * local part) or an invisible format character (UNDELIVERABLE); at most MAX_EMAIL_LENGTH characters; well-formed
 * Unicode (`isEmail` throws a URIError on a lone surrogate: a 500, not a 400).
 */
export function isDeliverableEmail(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_EMAIL_LENGTH && wellFormed(value) && !UNDELIVERABLE.test(value) && isEmail(value);
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
