import { createLocalJWKSet, createRemoteJWKSet, errors, JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';

/** The issuer's keys could not be read (its JWKS endpoint down, slow or answering something else) and none are held. */
export class IssuerKeysUnavailableError extends Error {
  override readonly name = 'IssuerKeysUnavailableError';
}

/** After a failed fetch, the keys held are used alone this long before the endpoint is asked again. */
export const ISSUER_KEYS_RETRY_MS = 5_000;

/**
 * The issuer's JWKS at `url`, fetched as jose's remote key set does (kept 10 minutes; fetched again at most every 5 s for
 * a key id it does not hold), except when the endpoint fails: jose then rejects every token, valid ones too, as soon as
 * its 10 minutes are up. Here the key set that loaded last keeps verifying until a fetch succeeds again (the issuer
 * restarting, a rolling deploy of identity), the endpoint asked again every ISSUER_KEYS_RETRY_MS rather than on every
 * request. With no keys held, or a key id those keys lack while the endpoint cannot be read (a new key nobody can
 * check yet), it throws IssuerKeysUnavailableError: a 503 to retry, not a 401 that would send the client to sign in.
 */
export function resilientRemoteKeySet(url: URL, { timeoutMs = 5_000 }: { timeoutMs?: number } = {}): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, { cooldownDuration: 5_000, cacheMaxAge: 600_000, timeoutDuration: timeoutMs, agent: deadlineAgent(url, timeoutMs) });
  let failedAt: number | undefined;
  // The keys of the last key set that loaded (a failed fetch leaves it), imported once, not for every token (jose's
  // jwks() is a copy); dropped when a fetch succeeds, to be imported again from the new set when next needed.
  let held: JWTVerifyGetKey | undefined;
  const loaded = () => {
    held = undefined;
    failedAt = undefined;
  };
  const fromHeld = async (...args: Parameters<JWTVerifyGetKey>) => {
    if (!held) {
      const jwks: JSONWebKeySet | undefined = remote.jwks();
      if (!jwks) throw new IssuerKeysUnavailableError(`The token issuer's keys (${url.origin}) cannot be read now.`);
      held = createLocalJWKSet(jwks);
    }
    try {
      return await held(...args);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey) throw new IssuerKeysUnavailableError(`The token issuer's keys (${url.origin}) cannot be read now, and its key ${args[0].kid ?? ''} is not among those held.`);
      throw error;
    }
  };
  return async (...args) => {
    if (failedAt !== undefined && Date.now() - failedAt < ISSUER_KEYS_RETRY_MS) return fromHeld(...args);
    // A key set held but older than its cache time: fetched again in the background, the token checked with the keys
    // held meanwhile, so that an endpoint that hangs (not refusing: answering nothing) holds up no request for its
    // timeout. A key id they lack waits for that fetch (below), as a new key must.
    if (!remote.fresh && remote.jwks()) {
      if (!remote.reloading) {
        remote.reload().then(loaded, (error: unknown) => {
          if (unreadable(error)) failedAt = Date.now();
        });
      }
      try {
        return await fromHeld(...args);
      } catch (error) {
        if (!(error instanceof IssuerKeysUnavailableError)) throw error;
      }
    }
    try {
      const key = await remote(...args);
      loaded();
      return key;
    } catch (error) {
      if (!unreadable(error)) throw error;
      failedAt = Date.now();
      return fromHeld(...args);
    }
  };
}

/**
 * An agent whose every connection (one per fetch: none kept alive) is destroyed `ms` after it opens, failing its fetch.
 * jose's own timeout covers only the wait for the answer's headers: an answer that stalled after them (a proxy, an
 * issuer stuck mid-body, the connection kept open) held the fetch, which every later lookup joins, with every token
 * of a key id not held waiting on it, for as long as the connection stayed open.
 */
function deadlineAgent(url: URL, ms: number): http.Agent {
  const agent = url.protocol === 'https:' ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
  const open = agent.createConnection.bind(agent);
  const armed = new WeakSet<Duplex>();
  const arm = (socket: Duplex | null | undefined) => {
    if (!socket || armed.has(socket)) return;
    armed.add(socket);
    const deadline = setTimeout(() => socket.destroy(new Error(`the JWKS endpoint did not answer in full within ${ms} ms`)), ms);
    deadline.unref();
    socket.once('close', () => clearTimeout(deadline));
  };
  // The agent passes its own callback, which a plain connection calls once connected (with no socket) and a TLS one may
  // call with the socket: armed from either, once.
  agent.createConnection = (options, callback) => {
    const socket = open(options, (error: Error | null, created: Duplex) => {
      arm(created);
      callback?.(error, created);
    });
    arm(socket);
    return socket;
  };
  return agent;
}

/**
 * Whether a key lookup failed because the endpoint could not be read: no answer in time (JWKSTimeout), an answer that is
 * no key set (JWKSInvalid), another status than 200 (jose's bare JOSEError), or the request failing (connection refused,
 * DNS: not jose's). Not a key id missing or matching twice, nor an unsupported key: those are the token's.
 */
function unreadable(error: unknown): boolean {
  if (!(error instanceof errors.JOSEError)) return true;
  return error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || error.constructor === errors.JOSEError;
}
