import { FieldProblem, ProblemException, Problems, ValidationProblem } from '@lib/platform';
import { HttpStatus } from '@nestjs/common';

export function throwIfProblems(problems: FieldProblem[]): void {
  if (problems.length) throw new ValidationProblem(problems);
}

export function duplicateName(): ProblemException {
  return Problems.conflict('Another bank profile of your partner already has this name.', {
    errors: [{ field: 'name', message: 'must be unique among the bank profiles of the partner' }],
  });
}

/**
 * A location's default names a bank profile that does not serve it: 409, the profile's
 * `locationIds` must first include the location (a change an Incentives admin of every location it serves can make).
 */
export function locationNotServed(profileId: string, served: string[], notServed: string[]): ProblemException {
  return new ProblemException(
    HttpStatus.CONFLICT,
    'location-not-served',
    'The bank profile does not serve the location',
    `Bank profile ${profileId} serves location(s) ${served.join(', ')}, not ${notServed.join(', ')}: a location's default bank ` +
      `profile must be one that serves it. Add the location to the profile's locationIds first (PATCH /v1/bank-profiles/${profileId}, ` +
      'as an Incentives admin of every location it serves), or choose a profile that serves it.',
    { errors: [{ field: 'bankProfileId', message: `must be a bank profile that serves location(s) ${notServed.join(', ')}` }] },
  );
}
