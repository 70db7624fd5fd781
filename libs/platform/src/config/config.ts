import { bool, cleanEnv, makeValidator, num, port, str, url, ValidatorSpec } from 'envalid';

export const CONFIG = Symbol('CONFIG');

/** One line, naming every bad variable, so a misconfigured service stops with a readable reason. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const brokers = makeValidator<string[]>((value) => {
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (!list.length || list.some((b) => !/^[^:\s]+:\d+$/.test(b))) throw new Error('must be host:port[,host:port...]');
  return list;
});

/** The operator credential: long enough to guess at no better than a real secret (an empty one would let anyone in). */
const operatorToken = makeValidator<string>((value) => {
  if (value.trim().length < 16) throw new Error('must be at least 16 characters, a secret shared with the operators');
  return value;
});

const mongoUrl = makeValidator<string>((value) => {
  if (!/^mongodb(\+srv)?:\/\//.test(value)) throw new Error('must be a mongodb:// URL');
  return value;
});

/** Settings every service has. A service adds its own with `loadConfig({ ...its spec })`. */
export function baseConfigSpec(serviceName: string) {
  return {
    SERVICE_NAME: str({ default: serviceName, desc: 'Name in logs and process metrics' }),
    PORT: port({ default: 3000, desc: 'HTTP port (API, /docs, /health, /metrics)' }),
    LOG_LEVEL: str({ choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', desc: 'JSON logs on stdout from this level up' }),
    MONGO_URL: mongoUrl({ desc: 'MongoDB connection string' }),
    MONGO_DB: str({ default: serviceName.replace(/-/g, '_'), desc: "The service's own database" }),
    MONGO_SLOW_MS: num({ default: 0, desc: 'Log every database command slower than this, with its filter shape (0: off)' }),
    KAFKA_BROKERS: brokers({ desc: 'Comma-separated host:port list' }),
    KAFKA_GROUP_ID: str({ default: serviceName, desc: "The service's consumer group (every replica of the service shares it)" }),
    KAFKA_PARTITIONS_CONCURRENCY: num({ default: 3, desc: 'Partitions a replica handles at the same time' }),
    KAFKA_MAX_ATTEMPTS: num({ default: 5, desc: 'Attempts of a consumed event failing transiently before it is dead-lettered to `<topic>.dlq`' }),
    KAFKA_RETRY_BACKOFF_MS: num({ default: 200, desc: 'First wait between those attempts (doubles each time)' }),
    KAFKA_TOPIC_PARTITIONS: num({ default: 6, desc: 'Partitions of the topics the service creates when a platform team has not' }),
    OUTBOX_RELAY_INTERVAL_MS: num({ default: 1_000, desc: 'How often the outbox relay looks for events besides being told of each write' }),
    OUTBOX_SWEEP_INTERVAL_MS: num({ default: 10_000, desc: 'How often the relay scans every outbox for events nobody noted (a crash)' }),
    JWT_ISSUER: str({ desc: 'Expected `iss` of access tokens' }),
    JWT_AUDIENCE: str({ default: 'incentives-platform', desc: 'Expected `aud` of access tokens' }),
    JWKS_URL: url({ desc: "The issuer's JWKS endpoint" }),
    JWT_PARTNER_CLAIM: str({ default: 'partnerId', desc: "The token claim that names the caller's partner" }),
    OPERATOR_TOKEN: operatorToken({ desc: 'Credential of platform operators (X-Operator-Key header), at least 16 characters' }),
    DOCS_ENABLED: bool({ default: true, desc: 'Serve the OpenAPI document at /docs and /docs-json' }),
    SHUTDOWN_TIMEOUT_MS: num({ default: 20_000, desc: 'After SIGTERM, exit with 1 if the graceful shutdown takes longer' }),
    IDEMPOTENCY_RETENTION_MS: num({
      default: 24 * 3_600_000,
      desc: 'How long a stored answer to an Idempotency-Key is kept; a retry after that runs the request again (0: forever)',
    }),
    IDEMPOTENCY_LEASE_MS: num({
      default: 60_000,
      desc: 'How long a request holds its Idempotency-Key; a retry after that (the holder crashed) runs the request again',
    }),
  };
}


export function loadConfig<S extends Record<string, ValidatorSpec<unknown>>>(
  spec: S,
  env: NodeJS.ProcessEnv = process.env,
) {
  // A plain frozen copy: envalid's strict proxy throws on unknown keys, which Nest probes (onModuleInit...).
  const clean = cleanEnv(env, spec, {
    reporter: ({ errors }) => {
      const entries = Object.entries(errors);
      if (entries.length === 0) return;
      const detail = entries
        .map(([name, error]) => `${name} (${(error as Error).message.replace(/\s+/g, ' ')})`)
        .join(', ');
      throw new ConfigError(`Invalid configuration: ${detail}`);
    },
  });
  return Object.freeze({ ...clean });
}
