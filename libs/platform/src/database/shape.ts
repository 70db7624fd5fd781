/**
 * A value's shape: every value replaced by its type, an array by its first item's shape and its length, nothing below
 * five levels. No user data, and a size set by the schema, not by the data (slow-command logs, the statements of
 * database spans). No imports: tracing loads it before anything else.
 */
export function shapeOf(value: unknown, depth = 0): unknown {
  if (depth > 4) return '…';
  if (Array.isArray(value)) return value.length ? [shapeOf(value[0], depth + 1), ...(value.length > 1 ? [`×${value.length}`] : [])] : [];
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, shapeOf(inner, depth + 1)]));
  }
  return value === null ? null : typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
}

