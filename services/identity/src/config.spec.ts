import { baseConfigSpec, ConfigError, loadConfig } from '@lib/platform';
import { configRefusal } from '@lib/testing';
import { identityConfigSpec, IdentityConfig } from './config';
import { SigningKeys } from './tokens/signing-keys';

const required = {
  MONGO_URL: 'mongodb://127.0.0.1:27017/',
  KAFKA_BROKERS: '127.0.0.1:9092',
  JWT_ISSUER: 'https://issuer.test',
  OPERATOR_TOKEN: 'an-operator-key-of-16+',
};
const load = (env: Record<string, string>) =>
  loadConfig({ ...baseConfigSpec('identity'), ...identityConfigSpec }, { ...required, ...env }) as IdentityConfig;
const refusal = (env: Record<string, string>) => configRefusal(load, env);

describe('token issuer settings', () => {
  it('is the issuer by default (TOKEN_ISSUER=self), and then needs no JWKS_URL', () => {
    expect(load({})).toMatchObject({ TOKEN_ISSUER: 'self', JWKS_URL: undefined });
  });

  it('accepts an external issuer with its JWKS_URL', () => {
    expect(load({ TOKEN_ISSUER: 'external', JWKS_URL: 'https://login.example.com/jwks' })).toMatchObject({
      TOKEN_ISSUER: 'external',
      JWKS_URL: 'https://login.example.com/jwks',
    });
  });

  it('requires JWKS_URL with TOKEN_ISSUER=external', () => {
    expect(refusal({ TOKEN_ISSUER: 'external' })).toContain('JWKS_URL');
  });

  it('refuses any other TOKEN_ISSUER', () => {
    expect(refusal({ TOKEN_ISSUER: 'company' })).toContain('TOKEN_ISSUER');
  });

  it('refuses development sign-in with an external issuer (identity issues no tokens then)', () => {
    const config = load({ TOKEN_ISSUER: 'external', JWKS_URL: 'https://login.example.com/jwks', DEV_SIGN_IN_ENABLED: 'true' });
    expect(() => new SigningKeys(config)).toThrow(ConfigError);
    expect(() => new SigningKeys(config)).toThrow(/DEV_SIGN_IN_ENABLED/);
  });

  it('holds no signing key with an external issuer: nothing to publish or sign with', async () => {
    const keys = new SigningKeys(load({ TOKEN_ISSUER: 'external', JWKS_URL: 'https://login.example.com/jwks' }));
    expect(keys.issuing).toBe(false);
    expect(keys.jwks()).toEqual({ keys: [] });
    await expect(keys.issue('u', 'p')).rejects.toThrow(/TOKEN_ISSUER=external/);
  });
});
