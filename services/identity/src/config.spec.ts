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

  it('refuses an empty JWT_KEY_ID (tokens would name their key as "")', () => {
    expect(refusal({ JWT_KEY_ID: '' })).toContain('JWT_KEY_ID (must not be empty)');
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

describe('identity numbers', () => {
  it('keeps a token lifetime of 900 s and imports of at most 1000 users by default', () => {
    expect(load({})).toMatchObject({ JWT_TTL_SECONDS: 900, IMPORT_MAX_USERS: 1000 });
  });

  // A token born expired (or a fraction of a second) and an import limit nothing passes are mistakes, refused at start.
  it.each([
    ['JWT_TTL_SECONDS', '-900', '>= 1'],
    ['JWT_TTL_SECONDS', '0', '>= 1'],
    ['JWT_TTL_SECONDS', '90.5', '>= 1'],
    ['IMPORT_MAX_USERS', '2.5', 'from 1 to 5000'],
    ['IMPORT_MAX_USERS', '0', 'from 1 to 5000'],
    ['IMPORT_MAX_USERS', '5001', 'from 1 to 5000'], // a longer list is refused as a request body before the import reads it
    ['IMPORT_MAX_USERS', 'many', 'from 1 to 5000'],
  ])('refuses %s=%s', (name, value, bounds) => {
    expect(refusal({ [name]: value })).toContain(`${name} (must be a whole number ${bounds})`);
  });

  it('names the choices of TOKEN_ISSUER and refuses a JWKS_URL without repeating it', () => {
    expect(refusal({ TOKEN_ISSUER: 'company' })).toContain('TOKEN_ISSUER (must be one of: self, external)');
    const message = refusal({ TOKEN_ISSUER: 'external', JWKS_URL: 'https://reader:S3cr#t@login.example.com/jwks' });
    expect(message).toContain('JWKS_URL (must be an http(s) URL');
    expect(message).not.toContain('S3cr');
    expect(refusal({ TOKEN_ISSUER: 'external', JWKS_URL: 'login.example.com:443/jwks' })).toContain('JWKS_URL (must be an http(s) URL)');
  });
});
