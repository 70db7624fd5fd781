import type { NextFunction, Request, Response } from 'express';
import { wellFormed } from './email';
import { ProblemException, ValidationProblem } from './problem';

/** Deeper than any request body of the platform (the deepest, a tax profile's address in its business profile, is 3). */
export const MAX_BODY_DEPTH = 32;
/**
 * Longer than any list a request may send: a role change's locations (at most 500; a partner has at most 5,000), a SCIM import
 * (IMPORT_MAX_USERS, 1,000 users by default). class-validator checks every item of a nested list before its size, and a megabyte of `[{},{},...]` (333,000
 * items) took the validation pipe seconds and the heap to its limit, before any role was checked.
 */
export const MAX_BODY_ARRAY_ITEMS = 5_000;
/**
 * More fields than any object a request may send (a SCIM user with its directory attributes has a few dozen): turning
 * an object into its DTO costs time quadratic in its keys, seconds for the 90,000 keys of a megabyte.
 */
export const MAX_BODY_OBJECT_KEYS = 200;

/**
 * Names a body may not use: Nest's validation pipe drops `__proto__` and `constructor` without a word (stripProtoKeys),
 * and class-transformer skips the names of Object's own methods (`toString`, `valueOf`, `hasOwnProperty`...), so the
 * pipe's check of unknown fields never sees them: refused here, as any unknown field is.
 */
export const FORBIDDEN_KEYS = new Set(['__proto__', ...Object.getOwnPropertyNames(Object.prototype)]);

/**
 * After the JSON parser, before anything walks the body: one nested deeper than MAX_BODY_DEPTH answers 400 (the
 * validation pipe and the Idempotency-Key fingerprint recurse through it, and a few kilobytes of `[[[[...` overflowed
 * the stack: a 500), and so does a list longer than MAX_BODY_ARRAY_ITEMS, an object with more than
 * MAX_BODY_OBJECT_KEYS fields, a field named `__proto__`, `constructor` or as another of Object's own properties, as
 * any unknown field is, and text that is no well-formed Unicode (a lone surrogate, `"\ud800"`: the database would
 * store U+FFFD in its place, unlike what was answered, and `isEmail` throws on it), except within the `Resources` of a
 * SCIM ListResponse: the import checks each resource itself, rejecting a bad one rather than the whole file (a
 * directory attribute it ignores may hold anything). Any caller with a token reaches the pipe, so what it costs is
 * bounded here. Walked with a stack of its own, not recursion.
 */
export function checkBodyShape(request: Request, _response: Response, next: NextFunction): void {
  // No route takes a list: said as for null or a number (ProblemFilter). The validation pipe would make it a list of
  // DTOs with a `constructor` of its own, and name that, and the items' indexes, as fields that should not exist.
  if (Array.isArray(request.body)) {
    return next(new ProblemException(400, 'malformed-body', 'Malformed JSON body', 'The request body must be a JSON object, not an array.'));
  }
  const problem = shapeProblem(request.body);
  next(problem ? new ValidationProblem([problem]) : undefined);
}

export function shapeProblem(body: unknown): { field: string; message: string } | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const resources = scimResources(body);
  const stack: Array<{ value: object; depth: number; path: string; text: boolean }> = [{ value: body, depth: 1, path: '', text: true }];
  while (stack.length) {
    const { value, depth, path, text } = stack.pop()!;
    if (depth > MAX_BODY_DEPTH) return { field: path || 'body', message: `the body is nested more than ${MAX_BODY_DEPTH} levels deep` };
    const keys = Object.keys(value);
    if (Array.isArray(value) && value.length > MAX_BODY_ARRAY_ITEMS) {
      return { field: path || 'body', message: `must contain at most ${MAX_BODY_ARRAY_ITEMS} items` };
    }
    if (!Array.isArray(value) && keys.length > MAX_BODY_OBJECT_KEYS) {
      return { field: path || 'body', message: `must have at most ${MAX_BODY_OBJECT_KEYS} fields` };
    }
    for (const key of keys) {
      const field = path ? `${path}.${key}` : key;
      if (!Array.isArray(value) && FORBIDDEN_KEYS.has(key)) return { field, message: `property ${key} should not exist` };
      if (text && !wellFormed(key)) return { field: path || 'body', message: 'has a field name that is no well-formed Unicode text (a lone surrogate)' };
      const child = (value as Record<string, unknown>)[key];
      if (text && typeof child === 'string' && !wellFormed(child)) return { field, message: 'must be well-formed Unicode text (it holds a lone surrogate)' };
      if (child !== null && typeof child === 'object') stack.push({ value: child, depth: depth + 1, path: field, text: text && child !== resources });
    }
  }
  return undefined;
}

const SCIM_LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

/** The `Resources` of a SCIM ListResponse (a directory export), else undefined. */
function scimResources(body: object): unknown {
  const { schemas, Resources } = body as { schemas?: unknown; Resources?: unknown };
  return Array.isArray(schemas) && schemas.includes(SCIM_LIST_RESPONSE) && Array.isArray(Resources) ? Resources : undefined;
}
