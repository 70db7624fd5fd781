import { Body, PipeTransform } from '@nestjs/common';
import { ApiBody } from '@nestjs/swagger';
import { Allow } from 'class-validator';
import { createValidationPipe } from './validation';

/**
 * The body of an endpoint that takes none: a DTO without fields, so every field sent is unknown and refused (SPEC §4
 * "Unknown fields are rejected"). Use it through {@link NoBody}, which also keeps it out of the required bodies of
 * the OpenAPI document.
 */
export class EmptyBody {}

// With forbidUnknownValues, class-validator refuses any object (even {}) whose class has no validation metadata at
// all ("an unknown value was passed to the validate function"). A symbol-keyed @Allow gives EmptyBody one that no
// JSON field can name (whitelisting compares string keys only), so `{}` passes and any field sent is "should not
// exist", exactly as on any other DTO.
const NO_FIELDS: unique symbol = Symbol('EmptyBody has no fields');
Allow()(EmptyBody.prototype, NO_FIELDS as unknown as string);

/** The global pipe's rules, on EmptyBody whatever type the parameter is declared with. */
const validation = createValidationPipe();
const emptyBodyPipe: PipeTransform = {
  transform: (value: unknown) => validation.transform(value, { type: 'body', metatype: EmptyBody }),
};

/**
 * For a POST/PUT/PATCH/DELETE handler that takes no body: `@NoBody() _body: EmptyBody`. Without a @Body parameter the
 * validation pipe never sees the body and a field sent would be silently ignored; with it, any field answers 400
 * problem+json naming each one (`property bankProfileId should not exist`), before the handler runs, while no body,
 * `{}` or a request without a Content-Type are accepted. The OpenAPI document shows an optional body without fields.
 */
export function NoBody(): ParameterDecorator {
  return (target, key, index) => {
    Body(emptyBodyPipe)(target, key, index);
    if (key === undefined) return;
    const descriptor = Object.getOwnPropertyDescriptor(target, key);
    if (!descriptor) return;
    ApiBody({
      required: false,
      description: 'No body: send none, or `{}`; any field is refused (400)',
      schema: { type: 'object', properties: {}, additionalProperties: false },
    })(target, key, descriptor);
  };
}
