import { readFileSync } from 'node:fs';
import { cleanEnv, EnvError, EnvMissingError, makeValidator, str, ValidatorSpec } from 'envalid';
import { flagValue } from './flag-words';

export const CONFIG = Symbol('CONFIG');

/** MONGO_ID_LOOKUP_INDEXES (IdLookupIndexes): `auto` (the server decides), `always`, `never`. */
export const ID_LOOKUP_INDEX_SETTINGS = ['auto', 'always', 'never'] as const;

/** One line, naming every bad variable, so a misconfigured service stops with a readable reason. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** host:port[,host:port...], each port from 1 to 65535 (`kafka:0` or `kafka:70000` would leave a service never ready). */
const brokers = makeValidator<string[]>((value) => {
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  const port = (broker: string) => Number(/^[^:\s]+:(\d{1,5})$/.exec(broker)?.[1] ?? 0);
  if (!list.length || list.some((b) => port(b) < 1 || port(b) > 65_535)) throw new Error('must be host:port[,host:port...], each port from 1 to 65535');
  return list;
});

/**
 * A value compared exactly (a credential, a token's issuer or claim name) must not begin or end with blanks: a secret
 * file's trailing newline would be kept, and nothing sent could ever match it (HTTP headers lose theirs), so every
 * call would answer 401 with the service apparently healthy.
 */
export function refuseSurroundingBlanks(value: string): void {
  if (value !== value.trim()) throw new Error('must not begin or end with spaces or a line break (a trailing newline in a secret file?)');
}

/**
 * A credential sent in a header: visible ASCII only. Node reads header values as Latin-1, so a UTF-8 `é` a client sends
 * never equals the configured one, and a bearer token ends at a space: nothing sent could ever match it, and every call
 * would answer 401 with the service apparently healthy.
 */
function refuseUnsendable(value: string): void {
  refuseSurroundingBlanks(value);
  if (!/^[\x21-\x7e]*$/.test(value)) throw new Error('must be visible ASCII characters only (no spaces or accents: a header cannot carry them as written)');
}

/** The operator credential: long enough to guess at no better than a real secret (an empty one would let anyone in). */
const operatorToken = makeValidator<string>((value) => {
  if (value.trim().length < 16) throw new Error('must be at least 16 characters, a secret shared with the operators');
  refuseUnsendable(value);
  return value;
});

/** A credential that may be left unset: empty (what it guards stays as without it), or at least 16 characters. */
export const optionalCredential = makeValidator<string>((value) => {
  if (value !== '' && value.trim().length < 16) throw new Error('must be empty or at least 16 characters');
  refuseUnsendable(value);
  return value;
});

/** The longest delay a Node timer keeps (2^31-1 ms, about 24.8 days): above it, setTimeout and setInterval fire after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A whole number of at least `min` (and at most `max` when given): counts, sizes, durations. 0 or a negative value
 * where it breaks a guarantee is refused, and so is a fraction (which no count or timer means).
 */
export const wholeNumber = (min: number, max?: number) =>
  makeValidator<number>((value) =>
    boundedInteger(value, min, max, max === undefined ? `must be a whole number >= ${min}` : `must be a whole number from ${min} to ${max}`),
  );

/**
 * `value` as a whole number from `min` to `max` (when given), or `refusal`. Written in decimal digits (a leading `-`
 * for a negative minimum): `Number` would also read `0x1F90`, `1e3` or `0b1`, which nobody means for a port or a delay.
 */
function boundedInteger(value: string, min: number, max: number | undefined, refusal: string): number {
  const n = Number(value);
  if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) throw new Error(refusal);
  return n;
}

/**
 * A delay in ms that a Node timer waits (setTimeout, setInterval, a sleep): a whole number from `min` to MAX_TIMER_MS.
 * A larger one would fire after 1 ms, every 1 ms for an interval: a scan loop hammering the database.
 */
export const delayMs = (min: number) =>
  makeValidator<number>((value) => boundedInteger(value, min, MAX_TIMER_MS, `must be a whole number of milliseconds from ${min} to ${MAX_TIMER_MS}`));

/** true or false (also t/f, yes/no, on/off, 1/0, as envalid's `bool` reads them), refused without repeating the value. */
export const flag = makeValidator<boolean>((value) => {
  const parsed = flagValue(value);
  if (parsed === undefined) throw new Error('must be true or false');
  return parsed;
});

/** An email address (something@domain.tld, as envalid's `email`), refused without repeating the value. */
export const emailAddress = makeValidator<string>((value) => {
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) throw new Error('must be an email address');
  return value;
});

/** A string with something in it (an empty issuer or audience would turn its token check off), compared exactly. */
export const nonEmpty = makeValidator<string>((value) => {
  if (value.trim() === '') throw new Error('must not be empty');
  refuseSurroundingBlanks(value);
  return value;
});

/**
 * The key of Idempotency-Key request fingerprints (HMAC-SHA256): base64 of at least 32 random bytes, or empty to
 * derive one from OPERATOR_TOKEN (see `fingerprintKey` in http/idempotency-fingerprint.ts).
 */
const fingerprintKey = makeValidator<string>((value) => {
  const key = value.trim();
  if (key === '') return '';
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(key) || Buffer.from(key, 'base64').length < 32) {
    throw new Error('must be base64 of at least 32 random bytes (e.g. `openssl rand -base64 32`), or empty to derive it from OPERATOR_TOKEN');
  }
  return key;
});

/**
 * The path of a PEM file the service reads at start (a CA bundle, a client certificate or key); empty: none. Refused
 * when it cannot be read or holds no PEM block, so a mistyped path stops the service rather than its first connection.
 * The refusal names neither the path nor the content.
 */
export const pemFile = makeValidator<string | undefined>((value) => {
  const path = value.trim();
  if (path === '') return undefined;
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`must be a readable PEM file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  if (!/-----BEGIN [A-Z0-9 ]+-----/.test(content)) throw new Error('must be a PEM file (no -----BEGIN line in it)');
  return path;
});

/** SASL mechanisms of the brokers' listener the services can authenticate with (KafkaJS's own). */
export const KAFKA_SASL_MECHANISMS = ['none', 'plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** The samplers the OpenTelemetry SDK knows by name (OTEL_TRACES_SAMPLER). */
export const OTEL_TRACES_SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;

/**
 * An http(s) URL: the only kind the OTLP/HTTP exporter sends to, and a JWKS is fetched from (`identity:3001/...`,
 * the scheme left out, parses as a URL of scheme `identity:`; every signed-in call would answer 503).
 */
export const httpUrl = makeValidator<string>((value) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('must be an http(s) URL (percent-encode reserved characters in the user or password)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('must be an http(s) URL');
  return value;
});

/** A probability from 0 to 1 (OTEL_TRACES_SAMPLER_ARG of a ratio sampler). */
const ratio = makeValidator<number>((value) => {
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new Error('must be a number from 0 to 1');
  return n;
});

const mongoUrl = makeValidator<string>((value) => {
  if (!/^mongodb(\+srv)?:\/\//.test(value)) throw new Error('must be a mongodb:// URL');
  return value;
});

/** Settings every service has. A service adds its own with `loadConfig({ ...its spec })`. */
export function baseConfigSpec(serviceName: string) {
  return {
    SERVICE_NAME: nonEmpty({ default: serviceName, desc: 'Name in logs and process metrics' }),
    PORT: wholeNumber(1, 65_535)({ default: 3000, desc: 'HTTP port (API, /docs, /health, /metrics)' }),
    HOST: str({
      default: undefined,
      desc: "Address the HTTP server listens on; none: every address, IPv6 and IPv4 (Node's own choice: `::` where the machine has IPv6, else 0.0.0.0; an IPv6-only cluster probes the pod on IPv6). npm start: 127.0.0.1, this machine only",
    }),
    LOG_LEVEL: str({ choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', desc: 'JSON logs on stdout from this level up' }),
    MONGO_URL: mongoUrl({ desc: 'MongoDB connection string' }),
    MONGO_DB: nonEmpty({ default: serviceName.replace(/-/g, '_'), desc: "The service's own database" }),
    MONGO_SLOW_MS: wholeNumber(0)({ default: 0, desc: 'Log every database command slower than this, with its filter shape (0: off)' }),
    MONGO_ID_LOOKUP_INDEXES: str({
      choices: ID_LOOKUP_INDEX_SETTINGS,
      default: 'auto',
      desc: "The `_id`-led unique indexes (`{ _id, version }`...) that let a server without a query planner (mongo-java-server) look up a guarded write's document instead of scanning: `auto` creates them unless the server is MongoDB itself (its buildInfo), and drops them there; `always`; `never`",
    }),
    KAFKA_BROKERS: brokers({ desc: 'Comma-separated host:port list' }),
    KAFKA_GROUP_ID: nonEmpty({ default: serviceName, desc: "The service's consumer group (every replica of the service shares it)" }),
    KAFKA_PARTITIONS_CONCURRENCY: wholeNumber(1)({ default: 3, desc: 'Partitions a replica handles at the same time' }),
    KAFKA_MAX_ATTEMPTS: wholeNumber(1)({ default: 5, desc: 'Attempts of a consumed event failing transiently before it is dead-lettered to `<topic>.dlq`' }),
    // At most the longest wait between attempts (the consumer's MAX_INFRA_BACKOFF_MS): a wait is not cut short by a
    // shutdown, which a first wait of a minute would outlast (SHUTDOWN_TIMEOUT_MS), with the outbox not flushed.
    KAFKA_RETRY_BACKOFF_MS: wholeNumber(1, 5_000)({ default: 200, desc: 'First wait between those attempts (doubles each time, up to 5 s)' }),
    KAFKA_TOPIC_PARTITIONS: wholeNumber(1)({ default: 6, desc: 'Partitions of the topics the service creates when a platform team has not' }),
    KAFKA_TLS: flag({ default: false, desc: "Connect to the brokers over TLS, checking their certificates against the system's CAs (or KAFKA_TLS_CA_FILE's). On as well when a KAFKA_TLS_*_FILE is set" }),
    KAFKA_TLS_CA_FILE: pemFile({ default: undefined, desc: "PEM file of the CA certificates the brokers' certificates are checked against, instead of the system's" }),
    KAFKA_TLS_CERT_FILE: pemFile({
      default: undefined,
      requiredWhen: (env) => env.KAFKA_TLS_KEY_FILE !== undefined,
      desc: 'PEM client certificate (chain) for brokers that require one (mutual TLS), with KAFKA_TLS_KEY_FILE',
    }),
    KAFKA_TLS_KEY_FILE: pemFile({
      default: undefined,
      requiredWhen: (env) => env.KAFKA_TLS_CERT_FILE !== undefined,
      desc: "The client certificate's private key, unencrypted PEM (a mounted secret)",
    }),
    KAFKA_SASL_MECHANISM: str<KafkaSaslMechanism>({
      choices: KAFKA_SASL_MECHANISMS,
      default: 'none',
      desc: "How the service authenticates to the brokers' SASL listener (SASL_SSL with KAFKA_TLS, else SASL_PLAINTEXT)",
    }),
    KAFKA_SASL_USERNAME: nonEmpty({
      default: undefined,
      requiredWhen: (env) => env.KAFKA_SASL_MECHANISM !== 'none',
      desc: 'SASL user: required unless KAFKA_SASL_MECHANISM is none',
    }),
    KAFKA_SASL_PASSWORD: nonEmpty({
      default: undefined,
      requiredWhen: (env) => env.KAFKA_SASL_MECHANISM !== 'none',
      desc: 'SASL password: required unless KAFKA_SASL_MECHANISM is none',
    }),
    OUTBOX_RELAY_INTERVAL_MS: delayMs(10)({ default: 1_000, desc: 'How often the outbox relay looks for events besides being told of each write' }),
    OUTBOX_SWEEP_INTERVAL_MS: delayMs(100)({ default: 10_000, desc: 'How often the relay scans every outbox for events nobody noted (a crash)' }),
    OUTBOX_MAX_RECORD_BYTES: wholeNumber(1_024)({
      default: 1_000_000,
      desc: "The largest event (key, value, trace headers and a record's overhead of about 128 bytes) the relay sends, and the most bytes one send carries: at most the brokers' `message.max.bytes` and every topic's `max.message.bytes` (1 MB by default). A larger event is set aside in its document's `outboxParked`",
    }),
    PROCESSED_EVENTS_RETENTION_MS: wholeNumber(0)({
      default: 0,
      desc: "How long the consumed-event ledger (`processed_events`) keeps an entry (0: forever). An event delivered again after that is applied again rather than skipped, which changes nothing (idempotent handlers) but costs the work",
    }),
    JWT_ISSUER: nonEmpty({ desc: 'Expected `iss` of access tokens' }),
    JWT_AUDIENCE: nonEmpty({ default: 'incentives-platform', desc: 'Expected `aud` of access tokens' }),
    JWKS_URL: httpUrl({ desc: "The issuer's JWKS endpoint (http or https)" }),
    JWT_PARTNER_CLAIM: nonEmpty({ default: 'partnerId', desc: "The token claim that names the caller's partner" }),
    JWT_USER_CLAIM: nonEmpty({ default: 'sub', desc: "The token claim that holds the caller's identity user id (a company issuer may carry it in a claim of its own)" }),
    OPERATOR_TOKEN: operatorToken({ desc: 'Credential of platform operators (X-Operator-Key header), at least 16 visible ASCII characters' }),
    OPERATOR_PREVIOUS_TOKEN: optionalCredential({
      default: '',
      desc: 'During a rotation of OPERATOR_TOKEN, the one it replaces: accepted too, until every replica has the new OPERATOR_TOKEN (then empty it); empty: none',
    }),
    METRICS_TOKEN: optionalCredential({
      default: '',
      desc: 'Credential a scraper sends to read /metrics (Authorization: Bearer <token>), at least 16 characters; empty: /metrics is open to whoever reaches the port',
    }),
    DOCS_ENABLED: flag({ default: true, desc: 'Serve the OpenAPI document at /docs and /docs-json' }),
    SHUTDOWN_TIMEOUT_MS: delayMs(1)({ default: 20_000, desc: 'After SIGTERM, exit with 1 if the graceful shutdown takes longer' }),
    IDEMPOTENCY_RETENTION_MS: wholeNumber(0)({
      default: 24 * 3_600_000,
      desc: 'How long a stored answer to an Idempotency-Key is kept; a retry after that runs the request again (0: forever; else more than IDEMPOTENCY_LEASE_MS)',
    }),
    // A timer renews the claim every third of it: a delay a Node timer holds.
    IDEMPOTENCY_LEASE_MS: delayMs(1_000)({
      default: 60_000,
      desc: 'How long a request holds its Idempotency-Key; a retry after that (the holder crashed) runs the request again',
    }),
    IDEMPOTENCY_FINGERPRINT_KEY: fingerprintKey({
      default: '',
      desc: 'Secret key of the stored Idempotency-Key request fingerprints (HMAC-SHA256), base64 of 32+ random bytes, the same on every replica; empty: derived from OPERATOR_TOKEN',
    }),
    // Read by the OpenTelemetry SDK itself, before the service starts (startTracing); declared to be checked and listed.
    OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl({ default: undefined, desc: 'OTLP/HTTP collector to send traces to (`/v1/traces` is appended); none: tracing off' }),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: httpUrl({ default: undefined, desc: 'The full OTLP/HTTP traces URL, instead of OTEL_EXPORTER_OTLP_ENDPOINT; also turns tracing on' }),
    OTEL_EXPORTER_OTLP_HEADERS: nonEmpty({ default: undefined, desc: 'Headers sent with every export, `key=value,...` (a hosted collector\'s API key)' }),
    OTEL_SERVICE_NAME: nonEmpty({ default: undefined, desc: 'Service name of the spans, instead of SERVICE_NAME' }),
    OTEL_RESOURCE_ATTRIBUTES: nonEmpty({ default: undefined, desc: 'More attributes of the spans\' resource, `key=value,...` (e.g. deployment.environment.name=prod)' }),
    OTEL_TRACES_SAMPLER: str({ choices: OTEL_TRACES_SAMPLERS, default: 'parentbased_always_on', desc: 'Which traces are recorded' }),
    OTEL_TRACES_SAMPLER_ARG: ratio({ default: undefined, desc: 'The share of traces a ratio sampler records, from 0 to 1' }),
    OTEL_SDK_DISABLED: flag({ default: false, desc: 'Tracing off, whatever endpoint is set' }),
  };
}


/**
 * Why a setting was refused, without its value: a value may be a secret (a password in a URL, a key, a token), and
 * this line goes to stderr and the logs. The validators here say what is wrong and never repeat the value; envalid's
 * own (`str`, `num`, `url`...) quote it, so their refusals are replaced by one drawn from the spec.
 */
function refusalOf(error: unknown, spec: ValidatorSpec<unknown> | undefined): string {
  if (error instanceof EnvError) {
    const choices = spec?.choices as unknown[] | undefined;
    return choices ? `must be one of: ${choices.join(', ')}` : 'is not valid (the value is not repeated: it may be a secret)';
  }
  // A missing setting's message is its description: said to be missing, with what it is.
  if (error instanceof EnvMissingError) return `missing: ${spec?.desc ?? 'required'}`.replace(/\s+/g, ' ');
  return (error as Error).message.replace(/\s+/g, ' ');
}

export function loadConfig<S extends Record<string, ValidatorSpec<unknown>>>(
  spec: S,
  env: NodeJS.ProcessEnv = process.env,
) {
  // A setting with no value by default given empty is not set (`${VAR:-}` in a compose file, a blank key of a mounted
  // secret): envalid would refuse the validator's "none". One required with another (KAFKA_SASL_USERNAME with a SASL
  // mechanism) is then said to be missing, with why it is required.
  const given = { ...env };
  for (const [name, setting] of Object.entries(spec)) {
    const optional = 'default' in setting && setting.default === undefined;
    if (optional && given[name]?.trim() === '') delete given[name];
  }
  // A plain frozen copy: envalid's strict proxy throws on unknown keys, which Nest probes (onModuleInit...).
  const clean = cleanEnv(given, spec, {
    reporter: ({ errors }) => {
      const entries = Object.entries(errors);
      if (entries.length === 0) return;
      const detail = entries.map(([name, error]) => `${name} (${refusalOf(error, spec[name])})`).join(', ');
      throw new ConfigError(`Invalid configuration: ${detail}`);
    },
  });
  const config = Object.freeze({ ...clean });
  refuseIncoherent(config as Record<string, unknown>);
  return config;
}

/** Claims RFC 7519 registers that every token carries for its own purpose (not `sub`: it may name the user). */
const REGISTERED_CLAIMS = ['iss', 'aud', 'exp', 'nbf', 'iat', 'jti'];

/** Settings valid one by one that cannot work together. */
function refuseIncoherent(config: Record<string, unknown>): void {
  // Two credentials set to the same value (METRICS_TOKEN, a service's VALIDATOR_TOKEN, OPERATOR_TOKEN and
  // OPERATOR_PREVIOUS_TOKEN, every `*_TOKEN`): the holder of
  // the narrower one (a scraper, an outside back office) would hold the other too.
  const credentials = Object.entries(config).filter(([name, value]) => name.endsWith('_TOKEN') && typeof value === 'string' && value !== '');
  for (const [i, [name, value]] of credentials.entries()) {
    const same = credentials.slice(0, i).find(([, other]) => other === value);
    if (same) throw new ConfigError(`Invalid configuration: ${name} (must differ from ${same[0]}: whoever holds one would hold the other)`);
  }
  // The claims naming the caller and their partner (a company issuer's own): one claim for both, the partner would be
  // the user's id, and every signed-in call refused. Neither is a claim every token has for another purpose (the
  // issuer, the audience, the times, the token's id); nor is the partner `sub`, which names the user (identity signs
  // its tokens with the user as subject).
  if (config.JWT_USER_CLAIM !== undefined && config.JWT_USER_CLAIM === config.JWT_PARTNER_CLAIM) {
    throw new ConfigError(`Invalid configuration: JWT_PARTNER_CLAIM (must differ from JWT_USER_CLAIM, ${String(config.JWT_USER_CLAIM)}: the partner would be the user's id)`);
  }
  for (const name of ['JWT_USER_CLAIM', 'JWT_PARTNER_CLAIM'] as const) {
    const claim = config[name];
    const taken = name === 'JWT_PARTNER_CLAIM' ? [...REGISTERED_CLAIMS, 'sub'] : REGISTERED_CLAIMS;
    if (typeof claim === 'string' && taken.includes(claim)) {
      throw new ConfigError(`Invalid configuration: ${name} (must not be ${claim}, a claim that says something else: ${taken.join(', ')} are taken)`);
    }
  }
  // An upper bound (`<NAME>_MAX_MS`) below the value it bounds (`<NAME>_MS`: NOTIFY_BACKOFF_MS): every delay would be
  // the bound, the attempts used up at once.
  for (const [name, value] of Object.entries(config)) {
    const bounded = name.endsWith('_MAX_MS') ? config[`${name.slice(0, -'_MAX_MS'.length)}_MS`] : undefined;
    if (typeof value === 'number' && typeof bounded === 'number' && value < bounded) {
      throw new ConfigError(`Invalid configuration: ${name} (must be at least ${name.slice(0, -'_MAX_MS'.length)}_MS, ${bounded})`);
    }
  }
  const retention = config.IDEMPOTENCY_RETENTION_MS;
  const lease = config.IDEMPOTENCY_LEASE_MS;
  if (typeof retention === 'number' && typeof lease === 'number' && retention > 0 && retention <= lease) {
    throw new ConfigError(
      `Invalid configuration: IDEMPOTENCY_RETENTION_MS (must be 0 or more than IDEMPOTENCY_LEASE_MS, ${lease}: a claim still held by its request would be removed, and a retry would run it again)`,
    );
  }
}
