import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configRefusal } from '@lib/testing';
import { baseConfigSpec, loadConfig, MAX_TIMER_MS } from './config';
import { kafkaBrokersFromEnv, kafkaConnection, kafkaConnectionFromEnv } from './kafka-connection';

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
    ['PROCESSED_EVENTS_RETENTION_MS', '-1'], // the hourly delete would remove every entry
    ['IDEMPOTENCY_RETENTION_MS', '-1'], // the hourly delete would remove every stored answer
    ['KAFKA_PARTITIONS_CONCURRENCY', '0'], // nothing would ever be consumed
    ['KAFKA_MAX_ATTEMPTS', '0'],
    ['KAFKA_RETRY_BACKOFF_MS', '0'],
    ['OUTBOX_RELAY_INTERVAL_MS', '0'],
    ['SHUTDOWN_TIMEOUT_MS', '1.5'],
    ['MONGO_SLOW_MS', 'abc'],
    ['PORT', '0'],
    ['PORT', '70000'],
  ])('refuses %s=%s', (name, value) => {
    expect(refusal({ [name]: value })).toMatch(new RegExp(`${name} \\(must be a whole number (>=|from|of milliseconds from) \\d`));
  });

  // Above 2^31-1 ms a Node timer fires after 1 ms: the relay would scan every outbox without pause.
  // IDEMPOTENCY_LEASE_MS: the request holding a claim renews it every third of the lease.
  const timers = ['OUTBOX_RELAY_INTERVAL_MS', 'OUTBOX_SWEEP_INTERVAL_MS', 'SHUTDOWN_TIMEOUT_MS', 'IDEMPOTENCY_LEASE_MS'];
  it.each(timers)('refuses %s of 30 days, more than a Node timer holds, and takes the largest one it does', (name) => {
    expect(refusal({ [name]: String(30 * 86_400_000) })).toContain(`${name} (must be a whole number of milliseconds from`);
    expect(load({ [name]: String(MAX_TIMER_MS), IDEMPOTENCY_RETENTION_MS: '0' })[name as 'SHUTDOWN_TIMEOUT_MS']).toBe(MAX_TIMER_MS);
  });

  it('refuses a first Kafka retry wait above 5 s (a wait a shutdown does not cut short), and one token claim for both user and partner', () => {
    expect(refusal({ KAFKA_RETRY_BACKOFF_MS: '5001' })).toContain('KAFKA_RETRY_BACKOFF_MS (must be a whole number');
    expect(load({ KAFKA_RETRY_BACKOFF_MS: '5000' }).KAFKA_RETRY_BACKOFF_MS).toBe(5_000);
    expect(refusal({ JWT_PARTNER_CLAIM: 'sub' })).toContain('JWT_PARTNER_CLAIM (must differ from JWT_USER_CLAIM, sub');
    expect(refusal({ JWT_PARTNER_CLAIM: 'oid', JWT_USER_CLAIM: 'oid' })).toContain('JWT_PARTNER_CLAIM');
    expect(load({ JWT_PARTNER_CLAIM: 'tid', JWT_USER_CLAIM: 'oid' }).JWT_PARTNER_CLAIM).toBe('tid');
    // `sub` names the user (identity's tokens have the user as subject, whatever JWT_USER_CLAIM), a registered claim
    // something else.
    expect(refusal({ JWT_PARTNER_CLAIM: 'sub', JWT_USER_CLAIM: 'oid' })).toContain('JWT_PARTNER_CLAIM (must not be sub');
    expect(refusal({ JWT_USER_CLAIM: 'iss' })).toContain('JWT_USER_CLAIM (must not be iss');
    expect(refusal({ JWT_PARTNER_CLAIM: 'aud' })).toContain('JWT_PARTNER_CLAIM (must not be aud');
  });

  it('takes flags as true or false, and names the choices of LOG_LEVEL', () => {
    expect(load({ DOCS_ENABLED: 'false' }).DOCS_ENABLED).toBe(false);
    expect(load({}).DOCS_ENABLED).toBe(true);
    expect(refusal({ DOCS_ENABLED: 'maybe' })).toContain('DOCS_ENABLED (must be true or false)');
    expect(refusal({ LOG_LEVEL: 'verbose' })).toContain('LOG_LEVEL (must be one of: fatal, error, warn, info, debug, trace, silent)');
  });

  // The refusal goes to stderr and the logs: a URL may carry a password, and a reserved character in it is what breaks it.
  it('refuses a JWKS_URL that is not a URL without repeating it', () => {
    const message = refusal({ JWKS_URL: 'https://reader:S3cr#t/pw@issuer.test/jwks' });
    expect(message).toContain('JWKS_URL (must be an http(s) URL (percent-encode reserved characters in the user or password))');
    expect(message).not.toContain('S3cr');
    expect(load({ JWKS_URL: 'https://reader:S3cr%23t%2Fpw@issuer.test/jwks' }).JWKS_URL).toBe('https://reader:S3cr%23t%2Fpw@issuer.test/jwks');
  });

  // `identity:3001/...` (the scheme left out) is a URL of scheme `identity:`, which no JWKS can be fetched from: every
  // signed-in call would answer 503, the service reading healthy.
  it.each(['identity:3001/.well-known/jwks.json', 'ftp://issuer.test/jwks'])('refuses JWKS_URL %s, not http(s)', (value) => {
    expect(refusal({ JWKS_URL: value })).toContain('JWKS_URL (must be an http(s) URL)');
  });

  // Compared exactly: a secret file's trailing newline would be kept, and nothing sent could match it (401 for all).
  it.each(['OPERATOR_TOKEN', 'JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_PARTNER_CLAIM', 'JWT_USER_CLAIM'])('refuses %s with a trailing newline or leading space', (name) => {
    for (const value of [`${required.OPERATOR_TOKEN}\n`, ` ${required.OPERATOR_TOKEN}`]) {
      expect(refusal({ [name]: value })).toContain(`${name} (must not begin or end with spaces or a line break`);
    }
  });

  // A header carries visible ASCII as written: a space ends a bearer token, an accent arrives as other bytes (401 for all).
  it('refuses a METRICS_TOKEN equal to OPERATOR_TOKEN (the scraper would hold the operator credential)', () => {
    expect(refusal({ METRICS_TOKEN: required.OPERATOR_TOKEN })).toContain('METRICS_TOKEN (must differ from OPERATOR_TOKEN');
    expect(load({ METRICS_TOKEN: 'a-scraper-token-of-16+' }).METRICS_TOKEN).toBe('a-scraper-token-of-16+');
  });

  it('refuses an OPERATOR_TOKEN or METRICS_TOKEN with a space or a character outside ASCII', () => {
    for (const value of ['an operator key of 16+', 'an-opérateur-key-of-16+', 'an-operator-key-of-16+\u00a0x']) {
      expect(refusal({ OPERATOR_TOKEN: value })).toContain('OPERATOR_TOKEN (must be visible ASCII characters only');
      expect(refusal({ METRICS_TOKEN: value })).toContain('METRICS_TOKEN (must be visible ASCII characters only');
    }
    expect(load({ OPERATOR_TOKEN: 'An-0perator_Key.of~16+!' }).OPERATOR_TOKEN).toBe('An-0perator_Key.of~16+!');
  });

  it('refuses an empty SERVICE_NAME (every series and log line would name no service)', () => {
    expect(refusal({ SERVICE_NAME: '' })).toContain('SERVICE_NAME (');
    expect(load({}).SERVICE_NAME).toBe('svc');
  });

  it('refuses an IDEMPOTENCY_RETENTION_MS not longer than IDEMPOTENCY_LEASE_MS (a claim still held would be removed); 0 keeps answers forever', () => {
    expect(refusal({ IDEMPOTENCY_RETENTION_MS: '30000' })).toContain('IDEMPOTENCY_RETENTION_MS (must be 0 or more than IDEMPOTENCY_LEASE_MS');
    expect(refusal({ IDEMPOTENCY_RETENTION_MS: '60000', IDEMPOTENCY_LEASE_MS: '60000' })).toContain('IDEMPOTENCY_RETENTION_MS (');
    expect(load({ IDEMPOTENCY_RETENTION_MS: '0' }).IDEMPOTENCY_RETENTION_MS).toBe(0);
    expect(load({ IDEMPOTENCY_RETENTION_MS: '60001', IDEMPOTENCY_LEASE_MS: '60000' }).IDEMPOTENCY_RETENTION_MS).toBe(60_001);
  });

  it('never repeats a refused value, whatever the setting', () => {
    const secret = 'S3cr#t/pw';
    const env = Object.fromEntries(Object.keys(baseConfigSpec('svc')).map((name) => [name, secret]));
    const message = refusal(env);
    for (const name of ['PORT', 'LOG_LEVEL', 'MONGO_URL', 'KAFKA_BROKERS', 'JWKS_URL', 'OPERATOR_TOKEN', 'DOCS_ENABLED', 'SHUTDOWN_TIMEOUT_MS', 'IDEMPOTENCY_FINGERPRINT_KEY']) {
      expect(message).toContain(`${name} (`);
    }
    expect(message).not.toContain('S3cr');
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

  it('checks the OpenTelemetry settings the SDK reads: tracing off by default, an endpoint a URL, a ratio from 0 to 1', () => {
    expect(load({})).toMatchObject({ OTEL_EXPORTER_OTLP_ENDPOINT: undefined, OTEL_TRACES_SAMPLER: 'parentbased_always_on', OTEL_SDK_DISABLED: false });
    // An optional setting given empty (`${VAR:-}` in a compose file) is not set; it was refused before.
    expect(load({ OTEL_EXPORTER_OTLP_ENDPOINT: '', KAFKA_TLS_CA_FILE: ' ' })).toMatchObject({ OTEL_EXPORTER_OTLP_ENDPOINT: undefined, KAFKA_TLS_CA_FILE: undefined });
    expect(load({ OTEL_SERVICE_NAME: '' }).OTEL_SERVICE_NAME).toBeUndefined();
    expect(load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })).toMatchObject({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_TRACES_SAMPLER_ARG: 0.25,
    });
    const message = refusal({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318 x', OTEL_TRACES_SAMPLER: 'sometimes', OTEL_TRACES_SAMPLER_ARG: '1.5' });
    expect(message).toContain('OTEL_EXPORTER_OTLP_ENDPOINT (must be an http(s) URL)');
    expect(refusal({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://collector:4317' })).toContain('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (must be an http(s) URL)');
    expect(message).toContain('OTEL_TRACES_SAMPLER (must be one of: always_on, always_off, traceidratio,');
    expect(message).toContain('OTEL_TRACES_SAMPLER_ARG (must be a number from 0 to 1)');
  });

  it('says a setting without a default is missing, with what it is', () => {
    const { MONGO_URL: _mongo, ...withoutMongo } = required;
    expect(configRefusal(() => loadConfig(baseConfigSpec('svc'), withoutMongo), {})).toContain('MONGO_URL (missing: MongoDB connection string');
  });

  it('refuses a broker port outside 1-65535 (never ready), and numbers not written in decimal digits (0x1F90, 1e3, 0b1)', () => {
    for (const value of ['kafka:0', 'kafka:70000', 'kafka:9092,kafka2:123456', 'kafka']) expect(refusal({ KAFKA_BROKERS: value })).toContain('KAFKA_BROKERS');
    expect(load({ KAFKA_BROKERS: 'kafka-1:9092, kafka-2:65535' }).KAFKA_BROKERS).toEqual(['kafka-1:9092', 'kafka-2:65535']);
    for (const value of ['0x1F90', '1e3', '0b1', '8080.0', '+80']) expect(refusal({ PORT: value })).toContain('PORT');
    expect(load({ PORT: ' 8080 ' }).PORT).toBe(8080);
    expect(refusal({ IDEMPOTENCY_LEASE_MS: '1e5' })).toContain('IDEMPOTENCY_LEASE_MS');
  });

  it('names every bad setting in one line', () => {
    expect(refusal({ JWT_ISSUER: '', KAFKA_PARTITIONS_CONCURRENCY: '0' })).toMatch(/^Invalid configuration: .*JWT_ISSUER.*KAFKA_PARTITIONS_CONCURRENCY|^Invalid configuration: .*KAFKA_PARTITIONS_CONCURRENCY.*JWT_ISSUER/);
  });
});

describe('Kafka connection settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kafka-tls-'));
  const pem = (name: string, label: string) => {
    const path = join(dir, name);
    writeFileSync(path, `-----BEGIN ${label}-----\nMIIB${name}\n-----END ${label}-----\n`);
    return path;
  };
  const ca = pem('ca.pem', 'CERTIFICATE');
  const cert = pem('client.pem', 'CERTIFICATE');
  const key = pem('client.key', 'PRIVATE KEY');
  const connection = (env: Record<string, string>) => kafkaConnection(load(env));

  it('is plaintext and unauthenticated by default (a local broker)', () => {
    expect(connection({})).toEqual({});
  });

  it("turns TLS on with the system's CAs, or with a CA file, and presents a client certificate with its key", () => {
    expect(connection({ KAFKA_TLS: 'true' })).toEqual({ ssl: true });
    // A CA file alone turns TLS on: set for a plaintext connection, it would be ignored without a word.
    expect(connection({ KAFKA_TLS_CA_FILE: ca })).toEqual({ ssl: { ca: expect.stringContaining('MIIBca.pem') } });
    expect(connection({ KAFKA_TLS: 'true', KAFKA_TLS_CERT_FILE: cert, KAFKA_TLS_KEY_FILE: key })).toEqual({
      ssl: { cert: expect.stringContaining('MIIBclient.pem'), key: expect.stringContaining('MIIBclient.key') },
    });
  });

  it('authenticates with SASL PLAIN or SCRAM, given a user and a password', () => {
    expect(connection({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'enrollment', KAFKA_SASL_PASSWORD: 'pw' })).toEqual({
      sasl: { mechanism: 'scram-sha-512', username: 'enrollment', password: 'pw' },
    });
    expect(connection({ KAFKA_TLS: '1', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' })).toEqual({
      ssl: true,
      sasl: { mechanism: 'plain', username: 'u', password: 'p' },
    });
  });

  it('takes SASL credentials left blank as unset while no mechanism needs them (a secret with blank keys)', () => {
    expect(load({ KAFKA_SASL_USERNAME: '', KAFKA_SASL_PASSWORD: ' ' })).toMatchObject({ KAFKA_SASL_MECHANISM: 'none', KAFKA_SASL_USERNAME: undefined, KAFKA_SASL_PASSWORD: undefined });
    expect(connection({ KAFKA_SASL_MECHANISM: 'none', KAFKA_SASL_USERNAME: '', KAFKA_SASL_PASSWORD: '' })).not.toHaveProperty('sasl');
    expect(load({ KAFKA_TLS_CERT_FILE: '', KAFKA_TLS_KEY_FILE: '' })).toMatchObject({ KAFKA_TLS_CERT_FILE: undefined, KAFKA_TLS_KEY_FILE: undefined });
  });

  it('refuses a SASL mechanism without its user and password, and one KafkaJS does not speak', () => {
    const message = refusal({ KAFKA_SASL_MECHANISM: 'plain' });
    expect(message).toContain('KAFKA_SASL_USERNAME (');
    expect(message).toContain('KAFKA_SASL_PASSWORD (');
    expect(refusal({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: ' ' })).toContain(
      'KAFKA_SASL_PASSWORD (missing: SASL password: required unless KAFKA_SASL_MECHANISM is none)',
    );
    expect(refusal({ KAFKA_SASL_MECHANISM: 'gssapi' })).toContain('KAFKA_SASL_MECHANISM (must be one of: none, plain, scram-sha-256, scram-sha-512)');
  });

  it('refuses a client certificate without its key and the other way round', () => {
    expect(refusal({ KAFKA_TLS_CERT_FILE: cert })).toContain('KAFKA_TLS_KEY_FILE (');
    expect(refusal({ KAFKA_TLS_KEY_FILE: key })).toContain('KAFKA_TLS_CERT_FILE (');
  });

  // At start, not at the first connection: a mistyped path or a secret mounted as the wrong file.
  it('refuses a file it cannot read or that holds no PEM, naming neither path nor content', () => {
    const missing = refusal({ KAFKA_TLS_CA_FILE: join(dir, 'S3cret-missing.pem') });
    expect(missing).toContain('KAFKA_TLS_CA_FILE (must be a readable PEM file (ENOENT))');
    const notPem = join(dir, 'not-pem.txt');
    writeFileSync(notPem, 'S3cret but no PEM');
    const message = refusal({ KAFKA_TLS_CA_FILE: notPem });
    expect(message).toContain('KAFKA_TLS_CA_FILE (must be a PEM file (no -----BEGIN line in it))');
    expect(message + missing).not.toContain('S3cret');
  });
});

describe('kafkaConnectionFromEnv: the operators\' tools connect as the services do', () => {
  it('reads TLS and SASL from the same settings, checked the same way', () => {
    expect(kafkaConnectionFromEnv({})).toEqual({});
    expect(kafkaConnectionFromEnv({ KAFKA_TLS: 'true', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'ops', KAFKA_SASL_PASSWORD: 'pw' })).toEqual({
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'ops', password: 'pw' },
    });
    expect(() => kafkaConnectionFromEnv({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'ops' })).toThrow(/KAFKA_SASL_PASSWORD/);
  });

  it('reads KAFKA_BROKERS as a service does: entries trimmed, each host:port; unset, none', () => {
    expect(kafkaBrokersFromEnv({ KAFKA_BROKERS: 'kafka-0:9092, kafka-1:9092' })).toEqual(['kafka-0:9092', 'kafka-1:9092']);
    expect(() => kafkaBrokersFromEnv({ KAFKA_BROKERS: 'kafka-0' })).toThrow(/KAFKA_BROKERS \(must be host:port/);
    expect(kafkaBrokersFromEnv({})).toBeUndefined();
  });
});
