import { exportJWK, generateKeyPair, JWK, SignJWT } from 'jose';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export interface TokenOptions {
  sub: string;
  partnerId: string;
  expiresInSeconds?: number;
  audience?: string;
  /** Sign with a key the JWKS does not publish. */
  foreignKey?: boolean;
}

/**
 * A real OIDC-style issuer for tests: RS256 keys, a JWKS served over HTTP, and tokens signed with them.
 * Services under test verify tokens through its JWKS URL exactly as in production.
 */
export class TestIssuer {
  readonly issuer = 'https://issuer.test.local';
  readonly audience = 'incentives-platform';
  private server?: Server;
  private key?: PrivateKey;
  private foreign?: PrivateKey;
  private jwk?: JWK;
  jwksUrl = '';

  async start(): Promise<this> {
    const pair = await generateKeyPair('RS256');
    this.key = pair.privateKey;
    this.foreign = (await generateKeyPair('RS256')).privateKey;
    this.jwk = { ...(await exportJWK(pair.publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
    this.server = createServer((_, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ keys: [this.jwk] }));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.jwksUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
    return this;
  }

  async token({ sub, partnerId, expiresInSeconds = 600, audience, foreignKey }: TokenOptions): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ partnerId })
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
      .setSubject(sub)
      .setIssuer(this.issuer)
      .setAudience(audience ?? this.audience)
      .setIssuedAt(now - 10)
      .setJti(randomUUID())
      .setExpirationTime(now + expiresInSeconds)
      .sign(foreignKey ? this.foreign! : this.key!);
  }

  /** The settings a service needs to trust this issuer. */
  env(): Record<string, string> {
    return { JWT_ISSUER: this.issuer, JWT_AUDIENCE: this.audience, JWKS_URL: this.jwksUrl };
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
