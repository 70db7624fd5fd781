import { FieldProblem, ProblemException, Problems, ValidationProblem } from '@lib/platform';

export function throwIfProblems(problems: FieldProblem[]): void {
  if (problems.length) throw new ValidationProblem(problems);
}

export function duplicateName(): ProblemException {
  return Problems.conflict('Another bank profile of your partner already has this name.', {
    errors: [{ field: 'name', message: 'must be unique among the bank profiles of the partner' }],
  });
}
