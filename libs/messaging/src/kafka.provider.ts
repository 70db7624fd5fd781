import { Logger } from '@nestjs/common';
import { Kafka, logLevel, LogEntry } from 'kafkajs';
import { registerCompressionCodecs } from './compression';
import { MessagingOptions } from './options';

const levels: Record<number, 'error' | 'warn' | 'log' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'log',
  [logLevel.DEBUG]: 'debug',
};

/**
 * Lines KafkaJS logs louder than they are here:
 *  - "Response <api>(...)": a broker's error answer (no leader yet, a topic just created), which KafkaJS retries;
 *    what finally fails reaches the caller, which logs it (the relay, the consumer's start);
 *  - the idempotent producer's "Limiting retries ... may invalidate EoS guarantees": a send that gives up is sent
 *    again by the outbox relay (at least once; consumers are idempotent);
 *  - the v2 partitioner notice (the partitioner is chosen explicitly, see EventProducer).
 */
function expectedLevel(level: logLevel, message: string): logLevel {
  if (level === logLevel.ERROR && message.startsWith('Response ')) return logLevel.WARN;
  if (message.startsWith('Limiting retries for the idempotent producer')) return logLevel.DEBUG;
  return level;
}

/**
 * One KafkaJS log entry as the line this service logs, at the level it deserves. Its message is a string, or the Error
 * itself where KafkaJS logs one (a broker connection that failed for good: a SASL mechanism the broker refuses).
 */
export function kafkaLogLine(level: logLevel, log: LogEntry['log']): { level: 'error' | 'warn' | 'log' | 'debug'; line: string } {
  const { message, ...extra } = log as Omit<LogEntry['log'], 'message'> & { message: unknown };
  const text = message instanceof Error ? `${message.name}: ${message.message}` : String(message);
  return { level: levels[expectedLevel(level, text)] ?? 'log', line: `${text} ${JSON.stringify(extra)}` };
}

/** The only place that knows the client library: swap it here (a KafkaJS-compatible client exists). */
export function createKafka(options: Pick<MessagingOptions, 'serviceName' | 'brokers' | 'connection'>): Kafka {
  registerCompressionCodecs();
  const logger = new Logger('Kafka');
  return new Kafka({
    clientId: options.serviceName,
    brokers: options.brokers,
    ...options.connection,
    logLevel: logLevel.WARN,
    retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 5_000 },
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const entry = kafkaLogLine(level, log);
        logger[entry.level](entry.line);
      },
  });
}
