import { EventProducer, KafkaEventServer, TopicAdmin } from '@lib/messaging';
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

/** Liveness: the process answers. Readiness: the database and the broker connections are up, and the broker answers. */
@ApiExcludeController()
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly mongo: MongooseHealthIndicator,
    private readonly producer: EventProducer,
    private readonly consumer: KafkaEventServer,
    private readonly admin: TopicAdmin,
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
        const connected = this.producer.isConnected && this.consumer.isRunning;
        // The clients' states miss a broker that went away (KafkaJS reports only a disconnect it was asked for).
        const broker = connected && (await this.admin.reachable());
        const up = connected && broker;
        const result = {
          kafka: {
            status: up ? ('up' as const) : ('down' as const),
            producer: this.producer.isConnected,
            consumer: this.consumer.isRunning,
            broker,
            topics: this.consumer.topics,
          },
        };
        if (!up) throw new HealthCheckError('kafka is not connected', result);
        return result;
      },
    ]);
  }
}
