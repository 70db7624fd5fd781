import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsDefined, IsString, MaxLength, ValidateBy, ValidateIf } from 'class-validator';
import { CONTROL, isBlankText, VISIBLE } from '@lib/contracts';

/**
 * What is wrong with text people type, trimmed, as Text() says it ("must not be blank": nothing visible in it; a
 * control character or a bidirectional override), or null. For text that does not come through a DTO (a directory
 * import's names).
 */
export function textProblem(value: string): string | null {
  if (isBlankText(value)) return 'must not be blank';
  if (CONTROL.test(value)) return 'must not contain control characters or bidirectional overrides';
  return null;
}

/**
 * A field people type (a name, a reason): in Unicode's composed form (NFC: "Café" typed with a combining accent, as
 * macOS sends it, is stored as the one typed with "é", so sending it again changes nothing) and trimmed, then a string
 * of at most `max` characters with something visible in it and no control character. `"   "` (or a zero-width space
 * alone) is refused with "<field> must not be blank" instead of reaching the database (where a required field turns it
 * into a 500). Combine with `@IsOptional()` for an optional one.
 */
export function Text(max: number): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }) => (typeof value === 'string' ? value.normalize('NFC').trim() : value)),
    IsString(),
    TextRules(),
    MaxLength(max),
  );
}

/** Text()'s rules on what text holds (something visible, no control character), on the value or on each entry. */
export function TextRules({ each = false }: { each?: boolean } = {}): PropertyDecorator {
  return applyDecorators(
    Holding(VISIBLE, true, 'must not be blank', each),
    Holding(CONTROL, false, 'must not contain control characters or bidirectional overrides', each),
  );
}

/**
 * Refuses a string in which `pattern` is found (`wanted` false) or is not (true), with "<field> <message>". Not
 * @Matches: these are rules on what text holds, not a format to document as the field's pattern (a Unicode property
 * class, which OpenAPI's regular expressions do not share).
 */
function Holding(pattern: RegExp, wanted: boolean, message: string, each: boolean): PropertyDecorator {
  return ValidateBy(
    {
      name: wanted ? 'holdingVisible' : 'holdingNoControl',
      validator: {
        validate: (value) => typeof value !== 'string' || pattern.test(value) === wanted,
        defaultMessage: (args) => `${args?.property} ${message}`,
      },
    },
    { each },
  );
}

/**
 * An optional field of a change (PATCH): absent leaves it as it is, but `null` is refused ("<field> must not be
 * null") rather than let through as `@IsOptional()` does, to fail deeper in as a 500 or to wipe a required value.
 */
export function OptionalNotNull(): PropertyDecorator {
  return applyDecorators(
    ValidateIf((_, value) => value !== undefined),
    IsDefined({ message: ({ property }) => `${property} must not be null` }),
  );
}
