/**
 * A JSON copy of `value` without null values, to compare details: a field left out and one stored as null (before nulls
 * were refused) say the same.
 */
export function withoutNulls(value: object): unknown {
  return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (v === null ? undefined : v)));
}
