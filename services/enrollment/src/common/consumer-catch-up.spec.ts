import { BackgroundWork } from '@lib/platform';
import { freePort } from '@lib/testing';
import { Logger } from '@nestjs/common';
import { ProcessedEventLedger } from '@lib/messaging';
import { Kafka, logLevel } from 'kafkajs';
import type { EnrollmentConfig } from '../config';
import { ConsumerCatchUp } from './consumer-catch-up';

describe('ConsumerCatchUp with the broker unreachable', () => {
  // The service's own client retries a request 10 times up to 5 s apart (about 31 s on a refused connection): a
  // rollover asked for during an outage waited that long before its 503, past its own timeout and many a proxy's.
  it('says it could not tell (the rollover answers 503) within its timeout, not after the client retries', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    // The service's client's retries (createKafka), quiet: they go on after the test, the check given up.
    const kafka = new Kafka({ brokers: [`127.0.0.1:${await freePort()}`], retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 5_000 }, logLevel: logLevel.NOTHING });
    const catchUp = new ConsumerCatchUp(
      kafka,
      { serviceName: 'unit', brokers: [], groupId: 'unit' } as never,
      { stopRequested: false } as BackgroundWork,
      {} as ProcessedEventLedger,
      { ROLLOVER_CATCH_UP_TIMEOUT_MS: 3_000 } as EnrollmentConfig,
    );
    const started = Date.now();
    await expect(catchUp.wait()).resolves.toBe(false);
    expect(Date.now() - started).toBeLessThan(8_000); // its timeout and a second of grace; the client alone retries for about 20 s here
  }, 60_000);
});
