import { logLevel } from 'kafkajs';
import { kafkaLogLine } from './kafka.provider';

const entry = (message: unknown, extra: Record<string, unknown> = {}) => ({ namespace: 'BrokerPool', label: 'ERROR', timestamp: 't', message, ...extra }) as never;

describe('kafkaLogLine: what a KafkaJS log entry becomes', () => {
  it('logs the error KafkaJS logs as an Error object (a broker connection failed for good), not a TypeError of its own', () => {
    const error = new Error('SASL SCRAM-SHA-256 mechanism is not supported by the server');
    error.name = 'KafkaJSSASLAuthenticationError';
    const { level, line } = kafkaLogLine(logLevel.ERROR, entry(error, { retryCount: 0 }));
    expect(level).toBe('error');
    expect(line).toContain('KafkaJSSASLAuthenticationError: SASL SCRAM-SHA-256 mechanism is not supported by the server');
    expect(line).toContain('"retryCount":0');
  });

  it("logs a broker's error answer, which KafkaJS retries, as a warning, and the idempotent producer's retry notice as debug", () => {
    expect(kafkaLogLine(logLevel.ERROR, entry('Response Metadata(key: 3, version: 6)')).level).toBe('warn');
    expect(kafkaLogLine(logLevel.WARN, entry('Limiting retries for the idempotent producer. Please ensure max.in.flight.requests.per.connection is set to 1')).level).toBe('debug');
    expect(kafkaLogLine(logLevel.ERROR, entry('Crash: KafkaJSNumberOfRetriesExceeded')).level).toBe('error');
  });
});
