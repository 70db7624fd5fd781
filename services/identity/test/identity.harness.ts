/** Boots the identity service for a test file and speaks to it over HTTP, as clients do. */
import { bootService, OPERATOR_KEY, RunningService } from '@lib/testing';
import { Db, MongoClient } from 'mongodb';
import { generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import { AppModule } from '../src/app.module';

export const ISSUER = 'https://identity.test.local';
export const AUDIENCE = 'incentives-platform';

export interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface CallOptions {
  token?: string;
  operator?: boolean;
  body?: unknown;
  /** Sent as is (malformed JSON tests). */
  raw?: string;
  headers?: Record<string, string>;
}

export class IdentityClient {
  constructor(
    readonly url: string,
    private readonly db: Db,
  ) {}

  /**
   * Waits until the relay has published and removed the document's pending events. Tests call it before writing
   * the same document again: the local FerretDB applies an update as read-then-replace without isolation, so an
   * update racing the relay's removal of published entries can undo the other (MongoDB applies both atomically).
   * See the README, "Local database caveat".
   */
  async settled(collection: 'users' | 'partners', id: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const doc = await this.db.collection<{ _id: string; outbox?: unknown[] }>(collection).findOne({ _id: id }, { projection: { outbox: 1 } });
      if (!doc?.outbox?.length) return;
      if (Date.now() > deadline) throw new Error(`${collection}/${id} still has ${doc.outbox.length} unpublished event(s)`);
      await new Promise((r) => setTimeout(r, 15));
    }
  }

  async call<T = any>(method: string, path: string, options: CallOptions = {}): Promise<Answer<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.operator) headers['x-operator-key'] = OPERATOR_KEY;
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(`${this.url}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: response.status, body: parsed as T, headers: response.headers };
  }

  async signIn(email: string, partnerId?: string): Promise<string> {
    const answer = await this.call('POST', '/v1/dev/sign-in', { body: { email, ...(partnerId && { partnerId }) } });
    if (answer.status !== 200) throw new Error(`sign-in of ${email}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body.accessToken;
  }

  /** A partner with the given locations and its Global admin; returns the admin's token. */
  async registerPartner(locationIds: string[] = [`L-${randomUUID().slice(0, 8)}`]) {
    const partnerId = `P-${randomUUID()}`;
    const email = `ga-${randomUUID().slice(0, 8)}@${partnerId.toLowerCase()}.example`;
    const answer = await this.call('POST', '/v1/partners', {
      operator: true,
      body: {
        partnerId,
        name: `Partner ${partnerId}`,
        locations: locationIds.map((locationId) => ({ locationId, country: 'DE', legalName: `${locationId} GmbH` })),
        globalAdmin: { email, displayName: 'Global Admin' },
      },
    });
    if (answer.status !== 201) throw new Error(`register partner: ${answer.status} ${JSON.stringify(answer.body)}`);
    await this.settled('partners', partnerId);
    await this.settled('users', answer.body.globalAdminUserId);
    const token = await this.signIn(email, partnerId);
    return { partnerId, locationIds, globalAdmin: { userId: answer.body.globalAdminUserId as string, email, token } };
  }

  async createUser(token: string, input: { email?: string; displayName?: string; companyRole?: string } = {}) {
    const email = input.email ?? `u-${randomUUID().slice(0, 12)}@example.com`;
    const answer = await this.call('POST', '/v1/users', { token, body: { displayName: 'Some One', ...input, email } });
    if (answer.status !== 201) throw new Error(`create user: ${answer.status} ${JSON.stringify(answer.body)}`);
    await this.settled('users', answer.body.userId);
    return { userId: answer.body.userId as string, email, partnerId: answer.body.partnerId as string };
  }

  async assign(token: string, userId: string, role: string, locationIds: string[]) {
    const answer = await this.call('POST', `/v1/users/${userId}/roles`, { token, body: { role, locationIds } });
    if (answer.status !== 200) throw new Error(`assign: ${answer.status} ${JSON.stringify(answer.body)}`);
    await this.settled('users', userId);
    return answer.body;
  }
}

/** A PKCS8 PEM signing key the test also holds, so it can craft tokens the service would accept (or expired ones). */
export function signingKey(): { pem: string; privateKey: KeyObject } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), privateKey };
}

export interface BootedIdentity {
  service: RunningService;
  client: IdentityClient;
  /** The service's own database, read directly to check what is stored. */
  db: Db;
  close(): Promise<void>;
}

export async function bootIdentity(env: Record<string, string> = {}): Promise<BootedIdentity> {
  const service = await bootService(AppModule, {
    name: 'identity',
    env: { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, DEV_SIGN_IN_ENABLED: 'true', ...env },
  });
  const mongo = await new MongoClient(process.env.MONGO_URL!, { directConnection: true }).connect();
  const db = mongo.db(service.env.MONGO_DB);
  return {
    service,
    client: new IdentityClient(service.url, db),
    db,
    close: async () => {
      await service.close();
      await mongo.close();
    },
  };
}
