import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { KafkaConnection } from '@lib/messaging';
import { baseConfigSpec, KafkaSaslMechanism, loadConfig } from './config';

/** The Kafka settings of baseConfigSpec that say how to reach the brokers. */
export interface KafkaConnectionSettings {
  KAFKA_TLS: boolean;
  KAFKA_TLS_CA_FILE?: string;
  KAFKA_TLS_CERT_FILE?: string;
  KAFKA_TLS_KEY_FILE?: string;
  KAFKA_SASL_MECHANISM: KafkaSaslMechanism;
  KAFKA_SASL_USERNAME?: string;
  KAFKA_SASL_PASSWORD?: string;
}

/**
 * TLS and SASL for the service's Kafka clients (producer, consumer, admin: one KafkaJS client), from its settings.
 * TLS is on with KAFKA_TLS or any of its files: a CA file or a client certificate set for a plaintext connection would
 * otherwise be ignored without a word. The files were checked at start (pemFile) and are read here, once.
 */
export function kafkaConnection(c: KafkaConnectionSettings): KafkaConnection {
  const files: Array<[keyof ConnectionOptions, string | undefined]> = [
    ['ca', c.KAFKA_TLS_CA_FILE],
    ['cert', c.KAFKA_TLS_CERT_FILE],
    ['key', c.KAFKA_TLS_KEY_FILE],
  ];
  const tls: ConnectionOptions = Object.fromEntries(files.flatMap(([option, path]) => (path ? [[option, readFileSync(path, 'utf8')]] : [])));
  const ssl = Object.keys(tls).length > 0 ? tls : c.KAFKA_TLS ? true : undefined;
  const sasl =
    c.KAFKA_SASL_MECHANISM === 'none'
      ? undefined
      : { mechanism: c.KAFKA_SASL_MECHANISM, username: c.KAFKA_SASL_USERNAME!, password: c.KAFKA_SASL_PASSWORD! };
  return { ...(ssl && { ssl }), ...(sasl && { sasl }) };
}

/** The settings kafkaConnection reads. */
const CONNECTION_SETTINGS = ['KAFKA_TLS', 'KAFKA_TLS_CA_FILE', 'KAFKA_TLS_CERT_FILE', 'KAFKA_TLS_KEY_FILE', 'KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const;

/**
 * KAFKA_BROKERS as a service reads it (trimmed entries, each host:port: ConfigError naming it otherwise), or undefined
 * when it is not set: for the operators' tools, which reach the same brokers.
 */
export function kafkaBrokersFromEnv(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  if (!env.KAFKA_BROKERS) return undefined;
  return loadConfig({ KAFKA_BROKERS: baseConfigSpec('tool').KAFKA_BROKERS }, env).KAFKA_BROKERS;
}

/**
 * TLS and SASL as a service would connect with these environment variables (KAFKA_TLS*, KAFKA_SASL_*), checked as a
 * service checks them (ConfigError naming what is wrong): for the operators' tools (`npm run dlq`, `npm run event`),
 * which reach the same brokers.
 */
export function kafkaConnectionFromEnv(env: NodeJS.ProcessEnv = process.env): KafkaConnection {
  const spec = baseConfigSpec('tool');
  const settings = loadConfig(Object.fromEntries(CONNECTION_SETTINGS.map((name) => [name, spec[name]])) as Pick<typeof spec, (typeof CONNECTION_SETTINGS)[number]>, env);
  return kafkaConnection(settings as unknown as KafkaConnectionSettings);
}
