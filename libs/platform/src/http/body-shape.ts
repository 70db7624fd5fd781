import type { NextFunction, Request, Response } from 'express';
import { ValidationProblem } from './problem';

/** Deeper than any request body of the platform (the deepest, a tax profile's address in its business profile, is 3). */
export const MAX_BODY_DEPTH = 32;

/** Names a body may not use: Nest's validation pipe drops them without a word (stripProtoKeys), so they are refused here. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor']);

/**
 * After the JSON parser, before anything walks the body: one nested deeper than MAX_BODY_DEPTH answers 400 (the
 * validation pipe and the Idempotency-Key fingerprint recurse through it, and a few kilobytes of `[[[[...` overflowed
 * the stack: a 500), and so does a field named `__proto__` or `constructor`, as any unknown field is.
 * Walked with a stack of its own, not recursion.
 */
export function checkBodyShape(request: Request, _response: Response, next: NextFunction): void {
  const problem = shapeProblem(request.body);
  next(problem ? new ValidationProblem([problem]) : undefined);
}

export function shapeProblem(body: unknown): { field: string; message: string } | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const stack: Array<{ value: object; depth: number; path: string }> = [{ value: body, depth: 1, path: '' }];
  while (stack.length) {
    const { value, depth, path } = stack.pop()!;
    if (depth > MAX_BODY_DEPTH) return { field: path || 'body', message: `the body is nested more than ${MAX_BODY_DEPTH} levels deep` };
    for (const key of Object.keys(value)) {
      const field = path ? `${path}.${key}` : key;
      if (!Array.isArray(value) && FORBIDDEN_KEYS.has(key)) return { field, message: `property ${key} should not exist` };
      const child = (value as Record<string, unknown>)[key];
      if (child !== null && typeof child === 'object') stack.push({ value: child, depth: depth + 1, path: field });
    }
  }
  return undefined;
}
