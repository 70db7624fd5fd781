import { createHash } from 'node:crypto';

/**
 * A UUID (version 5 layout) derived from its parts: deriving the same fact again gives the same id, so a retried or
 * re-run operation finds what it wrote before (one enrollment or invitation per key, one event per transition, one
 * partner per registration's Idempotency-Key).
 */
export function deterministicId(...parts: string[]): string {
  const hash = createHash('sha1').update(parts.join('\u0000')).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * A UUID as JSON Schema's `uuid` format has it: 32 hex digits as 8-4-4-4-12, whatever its version and variant digits
 * (SQL Server's NEWSEQUENTIALID() and Microsoft-variant GUIDs are UUIDs an outside system may well send). Events' ids
 * and correlation ids (on events and in X-Correlation-Id) are checked by it.
 */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_SHAPE.test(value);
}

/**
 * Whether two ids name the same thing: the same string, or the same UUID in either case (a back office on SQL Server
 * writes its uniqueidentifiers upper-cased; the platform makes its UUIDs lower-case).
 */
export function sameId(a: string, b: string): boolean {
  return a === b || (isUuid(a) && isUuid(b) && a.toLowerCase() === b.toLowerCase());
}

const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
