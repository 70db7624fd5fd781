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

const mongoUrl = makeValidator<string>((value) => {
  if (!/^mongodb(\+srv)?:\/\//.test(value)) throw new Error('must be a mongodb:// URL');
  return value;
});

/** Settings every service has. A service adds its own with `loadConfig({ ...its spec })`. */
export function baseConfigSpec(serviceName: string) {
  return {
    SERVICE_NAME: str({ default: serviceName }),
    PORT: port({ default: 3000 }),
    LOG_LEVEL: str({ choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' }),
    MONGO_URL: mongoUrl({ desc: 'MongoDB connection string' }),
    MONGO_DB: str({ default: serviceName.replace(/-/g, '_') }),
    MONGO_SLOW_MS: num({ default: 0, desc: 'Log every database command slower than this, with its filter shape (0: off)' }),
    KAFKA_BROKERS: brokers({ desc: 'Comma-separated host:port list' }),
    KAFKA_GROUP_ID: str({ default: serviceName }),
    KAFKA_PARTITIONS_CONCURRENCY: num({ default: 3 }),
    KAFKA_MAX_ATTEMPTS: num({ default: 5 }),
    KAFKA_RETRY_BACKOFF_MS: num({ default: 200 }),
    KAFKA_TOPIC_PARTITIONS: num({ default: 6 }),
    OUTBOX_RELAY_INTERVAL_MS: num({ default: 1_000 }),
    OUTBOX_SWEEP_INTERVAL_MS: num({ default: 10_000, desc: 'How often the relay scans every outbox for events nobody noted (a crash)' }),
    JWT_ISSUER: str({ desc: 'Expected `iss` of access tokens' }),
    JWT_AUDIENCE: str({ default: 'incentives-platform' }),
    JWKS_URL: url({ desc: "The issuer's JWKS endpoint" }),
    JWT_PARTNER_CLAIM: str({ default: 'partnerId' }),
    OPERATOR_TOKEN: str({ desc: 'Credential of platform operators (X-Operator-Key header)' }),
    DOCS_ENABLED: bool({ default: true }),
    SHUTDOWN_TIMEOUT_MS: num({ default: 20_000 }),
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
