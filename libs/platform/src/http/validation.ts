import { ValidationPipe } from '@nestjs/common';
import { flattenValidationErrors, ValidationProblem } from './problem';

/** Field problems a 400 lists at most (a list of many bad items would otherwise answer megabytes). */
export const MAX_FIELD_PROBLEMS = 100;

/** Rejects unknown fields and names every invalid one (the first MAX_FIELD_PROBLEMS). */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => {
      const problems = flattenValidationErrors(errors);
      if (problems.length <= MAX_FIELD_PROBLEMS) return new ValidationProblem(problems);
      return new ValidationProblem(problems.slice(0, MAX_FIELD_PROBLEMS), `The request has invalid fields; the first ${MAX_FIELD_PROBLEMS} of ${problems.length} are listed.`);
    },
  });
}
