import { ConfigError } from '@lib/platform';

/**
 * The message of the ConfigError that loading settings `env` gives (config specs: a refused setting must be refused at
 * start, with a message naming it). Fails the test when the settings are accepted, or refused with another error.
 */
export function configRefusal(load: (env: Record<string, string>) => unknown, env: Record<string, string>): string {
  try {
    load(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

/** The settings every service requires, with test values: config specs add their service's own. */
export const PLATFORM_REQUIRED_ENV: Readonly<Record<string, string>> = {
  MONGO_URL: 'mongodb://127.0.0.1:27017/',
  KAFKA_BROKERS: '127.0.0.1:9092',
  JWT_ISSUER: 'https://issuer.test',
  JWKS_URL: 'https://issuer.test/jwks',
  OPERATOR_TOKEN: 'test-operator-key',
};
