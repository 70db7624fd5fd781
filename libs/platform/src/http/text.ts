import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsString, MaxLength, MinLength } from 'class-validator';

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
