import { Logger } from '@nestjs/common';
import { Kafka, logLevel, LogEntry } from 'kafkajs';
import { MessagingOptions } from './options';

const levels: Record<number, 'error' | 'warn' | 'log' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'log',
  [logLevel.DEBUG]: 'debug',
};

/** The only place that knows the client library: swap it here (a KafkaJS-compatible client exists). */
export function createKafka(options: Pick<MessagingOptions, 'serviceName' | 'brokers'>): Kafka {
  const logger = new Logger('Kafka');
  return new Kafka({
    clientId: options.serviceName,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 5_000 },
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...extra } = log;
        logger[levels[level] ?? 'log'](`${message} ${JSON.stringify(extra)}`);
      },
  });
}
