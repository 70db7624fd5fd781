import { MessagingModule } from '@lib/messaging';
import { DynamicModule, Global, Module, Provider } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { MongooseModule } from '@nestjs/mongoose';
import mongoose, { Connection } from 'mongoose';
import { TerminusModule } from '@nestjs/terminus';
import { ValidatorSpec } from 'envalid';
import { LoggerModule } from 'nestjs-pino';
import { AuthGuard } from './auth/auth.guard';
import { JWKS_KEY_SOURCE, JwtVerifier } from './auth/jwt-verifier';
import { baseConfigSpec, CONFIG, loadConfig } from './config/config';
import { kafkaConnection } from './config/kafka-connection';
import { IdLookupIndexes } from './database/id-lookup-indexes';
import { ModelsReady } from './database/models-ready';
import { logSlowCommands } from './database/slow-commands';
import { HealthController } from './health/health.controller';
import { OutboxController } from './outbox/outbox.controller';
import { ProblemFilter } from './http/problem.filter';
import { IdempotencyRetention } from './http/idempotency-retention';
import { LedgerRetention } from './lifecycle/ledger-retention';
import { createValidationPipe } from './http/validation';
import { NoUnknownQueryInterceptor } from './http/no-unknown-query';
import { IfMatchTakenInterceptor } from './http/if-match';
import { BackgroundWork } from './lifecycle/background-work';
import { pinoParams } from './logging/logging';
import { MetricsController } from './metrics/metrics';

// Mongoose records `new Error().stack` on every query (to report where a query executed twice was first run):
// formatting a stack costs more than the rest of a small query, much more with --enable-source-maps.
mongoose.set('skipOriginalStackTraces', true);

export type PlatformConfig = ReturnType<typeof loadConfig<ReturnType<typeof baseConfigSpec>>>;

export const SERVICE_NAME = Symbol('SERVICE_NAME');

export interface ServiceDefinition {
  /** identity, invitations, enrollment, payout-profiles, notification. */
  name: string;
  /** The service's own settings, validated with the common ones at start. */
  configSpec?: Record<string, ValidatorSpec<unknown>>;
  /** Where token verification keys come from, when not the remote JWKS (the issuer itself). */
  keySource?: { useFactory: (...args: never[]) => unknown; inject?: unknown[]; imports?: DynamicModule['imports'] };
  /** Topics read by a Kafka consumer of their own, apart from the service's others (MessagingOptions.ownConsumers). */
  ownConsumers?: Record<string, string[]>;
}

@Global()
@Module({})
class ConfigModule {
  static forService(definition: ServiceDefinition): DynamicModule {
    return {
      module: ConfigModule,
      providers: [
        { provide: SERVICE_NAME, useValue: definition.name },
        { provide: CONFIG, useFactory: () => loadConfig({ ...baseConfigSpec(definition.name), ...definition.configSpec }) },
      ],
      exports: [CONFIG, SERVICE_NAME],
    };
  }
}

/**
 * Everything a service stands on, the same way in every service: typed config, JSON logs, its MongoDB database,
 * Kafka messaging, auth, problem+json errors, validation, idempotency keys, health and metrics.
 */
@Module({})
export class PlatformModule {
  static forService(definition: ServiceDefinition): DynamicModule {
    const config = ConfigModule.forService(definition);
    const keySource: Provider = definition.keySource
      ? { provide: JWKS_KEY_SOURCE, useFactory: definition.keySource.useFactory, inject: (definition.keySource.inject ?? []) as never[] }
      : { provide: JWKS_KEY_SOURCE, useValue: null };
    return {
      module: PlatformModule,
      global: true,
      imports: [
        config,
        ...(definition.keySource?.imports ?? []),
        LoggerModule.forRootAsync({
          imports: [config],
          inject: [CONFIG],
          useFactory: (c: PlatformConfig) => pinoParams(c),
        }),
        MongooseModule.forRootAsync({
          imports: [config],
          inject: [CONFIG],
          useFactory: (c: PlatformConfig) => ({
            uri: c.MONGO_URL,
            dbName: c.MONGO_DB,
            // ModelsReady builds the indexes, awaited before the service starts (and without lookup indexes MongoDB does not need).
            autoIndex: false,
            serverSelectionTimeoutMS: 5_000,
            // Also how long the driver's monitor waits for a server's answer to its heartbeat (every 10 s): one that stops
            // answering without closing its connections (a network partition) is given up on 10 to 20 s after it stopped
            // (the driver's default, 30 s, took up to 40 s), readiness says so, and the operations waiting on its
            // connections fail then (503) instead of waiting for the network to come back.
            connectTimeoutMS: 10_000,
            ...(c.MONGO_SLOW_MS > 0 && {
              monitorCommands: true,
              connectionFactory: (connection: Connection) => {
                logSlowCommands(connection, c.MONGO_SLOW_MS);
                return connection;
              },
            }),
          }),
        }),
        MessagingModule.forRootAsync({
          imports: [config],
          inject: [CONFIG],
          useFactory: (c: PlatformConfig) => ({
            serviceName: definition.name,
            brokers: c.KAFKA_BROKERS,
            connection: kafkaConnection(c),
            groupId: c.KAFKA_GROUP_ID,
            partitionsConsumedConcurrently: c.KAFKA_PARTITIONS_CONCURRENCY,
            maxAttempts: c.KAFKA_MAX_ATTEMPTS,
            retryBackoffMs: c.KAFKA_RETRY_BACKOFF_MS,
            topicPartitions: c.KAFKA_TOPIC_PARTITIONS,
            relayIntervalMs: c.OUTBOX_RELAY_INTERVAL_MS,
            relaySweepIntervalMs: c.OUTBOX_SWEEP_INTERVAL_MS,
            relayMaxRecordBytes: c.OUTBOX_MAX_RECORD_BYTES,
            ...(definition.ownConsumers && { ownConsumers: definition.ownConsumers }),
          }),
        }),
        TerminusModule.forRoot({ logger: false }),
      ],
      controllers: [HealthController, MetricsController, OutboxController],
      providers: [
        keySource,
        JwtVerifier,
        BackgroundWork,
        IdempotencyRetention,
        LedgerRetention,
        ModelsReady,
        IdLookupIndexes,
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_INTERCEPTOR, useClass: NoUnknownQueryInterceptor },
        { provide: APP_INTERCEPTOR, useClass: IfMatchTakenInterceptor },
        { provide: APP_FILTER, useClass: ProblemFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
      exports: [JwtVerifier, BackgroundWork, IdLookupIndexes, config],
    };
  }

}
