import { ValidationPipe } from '@nestjs/common';
import { flattenValidationErrors, ValidationProblem } from './problem';

/** Rejects unknown fields and names every invalid one. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => new ValidationProblem(flattenValidationErrors(errors)),
  });
}
