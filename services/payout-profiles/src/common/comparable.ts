/**
 * A JSON copy of `value` to compare details by: without null values (a field left out and one stored as null, before
 * nulls were refused, say the same) and with its text in composed form (NFC: text people type is taken so, and a name
 * stored decomposed before then is the same name sent again).
 */
export function comparable(value: object): unknown {
  return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (v === null ? undefined : typeof v === 'string' ? v.normalize('NFC') : v)));
}
