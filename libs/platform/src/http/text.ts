import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsDefined, IsString, MaxLength, MinLength, ValidateIf } from 'class-validator';

/**
 * A field people type (a name, a reason): trimmed, then a non-blank string of at most `max` characters. `"   "` is
 * refused with "<field> must not be blank" instead of reaching the database (where a required field turns it into
 * a 500). Combine with `@IsOptional()` for an optional one.
 */
export function Text(max: number): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }) => (typeof value === 'string' ? value.trim() : value)),
    IsString(),
    MinLength(1, { message: ({ property }) => `${property} must not be blank` }),
    MaxLength(max),
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
