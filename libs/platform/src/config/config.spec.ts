import { configRefusal } from '@lib/testing';
import { baseConfigSpec, loadConfig } from './config';

const required = {
  MONGO_URL: 'mongodb://127.0.0.1:27017/',
  KAFKA_BROKERS: '127.0.0.1:9092',
  JWT_ISSUER: 'https://issuer.test',
  JWKS_URL: 'https://issuer.test/jwks',
  OPERATOR_TOKEN: 'an-operator-key-of-16+',
};
const load = (env: Record<string, string>) => loadConfig(baseConfigSpec('svc'), { ...required, ...env });
const refusal = (env: Record<string, string>) => configRefusal(load, env);

describe('common settings', () => {
  it('loads the defaults', () => {
    expect(load({})).toMatchObject({ KAFKA_PARTITIONS_CONCURRENCY: 3, IDEMPOTENCY_LEASE_MS: 60_000, JWT_AUDIENCE: 'incentives-platform' });
  });

  // An empty issuer or audience makes the token library skip that comparison: any token of the provider would pass.
  it.each(['JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_PARTNER_CLAIM', 'KAFKA_GROUP_ID', 'MONGO_DB'])('refuses an empty %s', (name) => {
    expect(refusal({ [name]: ' ' })).toContain(`${name} (must not be empty)`);
  });

  it.each([
    ['IDEMPOTENCY_LEASE_MS', '0'], // a retry would take over a request still running
    ['IDEMPOTENCY_RETENTION_MS', '-1'], // the hourly delete would remove every stored answer
    ['KAFKA_PARTITIONS_CONCURRENCY', '0'], // nothing would ever be consumed
    ['KAFKA_MAX_ATTEMPTS', '0'],
    ['KAFKA_RETRY_BACKOFF_MS', '0'],
    ['OUTBOX_RELAY_INTERVAL_MS', '0'],
    ['SHUTDOWN_TIMEOUT_MS', '1.5'],
    ['MONGO_SLOW_MS', 'abc'],
  ])('refuses %s=%s', (name, value) => {
    expect(refusal({ [name]: value })).toMatch(new RegExp(`${name} \\(must be a whole number >= \\d`));
  });

  it('takes IDEMPOTENCY_FINGERPRINT_KEY as base64 of 32+ bytes, empty (derived from OPERATOR_TOKEN) by default', () => {
    expect(load({}).IDEMPOTENCY_FINGERPRINT_KEY).toBe('');
    const key = Buffer.alloc(32, 7).toString('base64');
    expect(load({ IDEMPOTENCY_FINGERPRINT_KEY: key }).IDEMPOTENCY_FINGERPRINT_KEY).toBe(key);
    expect(load({ IDEMPOTENCY_FINGERPRINT_KEY: Buffer.alloc(48, 7).toString('base64url') }).IDEMPOTENCY_FINGERPRINT_KEY).toHaveLength(64);
  });

  // A short or mistyped key would be guessable offline, which is what keying the fingerprint is for.
  it.each([['short', Buffer.alloc(16, 7).toString('base64')], ['not base64', 'this is not base64 but it is long enough!!']])(
    'refuses a %s IDEMPOTENCY_FINGERPRINT_KEY',
    (_, value) => {
      expect(refusal({ IDEMPOTENCY_FINGERPRINT_KEY: value })).toContain('IDEMPOTENCY_FINGERPRINT_KEY (must be base64 of at least 32 random bytes');
    },
  );

  it('names every bad setting in one line', () => {
    expect(refusal({ JWT_ISSUER: '', KAFKA_PARTITIONS_CONCURRENCY: '0' })).toMatch(/^Invalid configuration: .*JWT_ISSUER.*KAFKA_PARTITIONS_CONCURRENCY|^Invalid configuration: .*KAFKA_PARTITIONS_CONCURRENCY.*JWT_ISSUER/);
  });
});
