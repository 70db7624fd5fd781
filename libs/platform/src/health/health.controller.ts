import { KafkaEventServer, EventProducer } from '@lib/messaging';
import { Controller, Get } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckError,
  HealthCheckService,
  HealthIndicatorResult,
  MongooseHealthIndicator,
} from '@nestjs/terminus';
import { Public } from '../auth/principal';

/** Liveness: the process answers. Readiness: the database and the broker connections are up. */
@ApiExcludeController()
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly mongo: MongooseHealthIndicator,
    private readonly producer: EventProducer,
    private readonly consumer: KafkaEventServer,
  ) {}

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([
      () => this.mongo.pingCheck('mongodb', { timeout: 1_500 }),
      async (): Promise<HealthIndicatorResult> => {
        const up = this.producer.isConnected && this.consumer.isRunning;
        const result = {
          kafka: {
            status: up ? ('up' as const) : ('down' as const),
            producer: this.producer.isConnected,
            consumer: this.consumer.isRunning,
            topics: this.consumer.topics,
          },
        };
        if (!up) throw new HealthCheckError('kafka is not connected', result);
        return result;
      },
    ]);
  }
}
