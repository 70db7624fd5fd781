import { createHash, createHmac, scryptSync } from 'node:crypto';

/**
 * What a stored Idempotency-Key answer remembers of its request, to tell a retry from another request under the same
 * key: an HMAC-SHA256 of the caller, route, key, path parameters, body and
 * If-Match with a secret key, never a plain hash. A plain SHA-256 sits in
 * the database beside the (masked) answer, and a body whose only unknown is a small secret (a US TIN is 9 digits) can
 * be found from it offline by trying every value; without the key there is nothing to try against.
 *
 * The key is IDEMPOTENCY_FINGERPRINT_KEY (base64 of 32+ random bytes) when it is set. Otherwise it is derived from
 * OPERATOR_TOKEN, which every service requires, which is the same on every replica and survives restarts (`npm start`
 * keeps it in .local/secrets.json, Kubernetes in the incentives-operator secret), so a retry sent to another replica
 * or after a restart still matches. Whoever holds OPERATOR_TOKEN can read profiles through the operator API anyway, so
 * deriving from it adds no one who could not already see the secrets. The derivation is scrypt, not a plain hash: a
 * guessable token (the one `npm start` makes has 48 random bits) costs far too much to try offline.
 *
 * Changing the key (setting IDEMPOTENCY_FINGERPRINT_KEY, or a new OPERATOR_TOKEN while it is unset) makes the answers
 * stored before no longer match their retries (422 idempotency-key-reused) until they expire after
 * IDEMPOTENCY_RETENTION_MS: change it when no client is retrying, or wait out the retention.
 */

/** Names this use of the operator token: the derived key serves nothing else, and a new scheme would get a new label. */
const DERIVATION_LABEL = 'incentives-platform/idempotency-fingerprint/v1';
/** scrypt cost: about 0.1 s once per process, and as much for every guess of the token. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

export interface FingerprintKeySettings {
  /** Base64 of 32+ random bytes, or empty. */
  IDEMPOTENCY_FINGERPRINT_KEY: string;
  OPERATOR_TOKEN: string;
}

let derived: { token: string; key: Buffer } | undefined;

/** The HMAC key of request fingerprints: the setting, or derived from OPERATOR_TOKEN (once per process). */
export function fingerprintKey(settings: FingerprintKeySettings): Buffer {
  if (settings.IDEMPOTENCY_FINGERPRINT_KEY) return Buffer.from(settings.IDEMPOTENCY_FINGERPRINT_KEY, 'base64');
  if (derived?.token !== settings.OPERATOR_TOKEN) {
    derived = { token: settings.OPERATOR_TOKEN, key: scryptSync(settings.OPERATOR_TOKEN, DERIVATION_LABEL, 32, SCRYPT) };
  }
  return derived.key;
}

export interface FingerprintedRequest {
  params: unknown;
  body: unknown;
  /** The If-Match header as sent: a request under another precondition is another request. */
  ifMatch?: string;
}

/**
 * The canonical form of `requestHmacV2`: path parameters, body and If-Match, with every object's fields in sorted
 * order, so that a client re-serialising the same JSON in another order retries the same request. Version 1 (the
 * body's fields as sent, no If-Match) is `requestHmac`: records keep it too, so that a replica still on the version
 * before (a rolling upgrade, a rollback) finds what it compares.
 */
export const FINGERPRINT_VERSION = 2;

function canonical(request: FingerprintedRequest, version: number): string {
  if (version < 2) return JSON.stringify({ params: request.params, body: request.body ?? null });
  return JSON.stringify({ params: request.params, body: request.body ?? null, ifMatch: request.ifMatch ?? null }, sortedFields);
}

/** A JSON.stringify replacer that writes each plain object's fields in sorted order (arrays keep theirs). */
function sortedFields(_field: string, value: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The fingerprint stored with an answer. The record's id (caller, route, key) is part of it, so two records of the same
 * body differ and the database does not even show which requests were equal.
 */
export function requestFingerprint(key: Buffer, id: string, request: FingerprintedRequest, version = FINGERPRINT_VERSION): string {
  return createHmac('sha256', key).update(id).update('\n').update(canonical(request, version)).digest('base64url');
}

/**
 * The unkeyed SHA-256 that answers stored before fingerprints were keyed carry (`requestHash`): computed only to
 * compare a retry with such a record, never stored again. Those records are gone after IDEMPOTENCY_RETENTION_MS.
 */
export function legacyRequestHash(request: FingerprintedRequest): string {
  return createHash('sha256').update(canonical(request, 1)).digest('base64url');
}
