import { EventProducer, gaugeMetric, KafkaEventServer, TopicAdmin } from '@lib/messaging';
import { Controller, Get, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckError,
  HealthCheckService,
  HealthIndicatorResult,
  MongooseHealthIndicator,
} from '@nestjs/terminus';
import { Public } from '../auth/principal';
import { BackgroundWork } from '../lifecycle/background-work';

/**
 * Whether this process reaches each of its dependencies (`mongodb`, `kafka`): 1 or 0, checked at each scrape as
 * readiness checks them. A pod that cannot reach one answers its scrape but not its readiness probe, so no request
 * reaches it: only this series tells an alert (deploy/prometheus/alerts.yml, DependencyUnreachable).
 */
const dependencyUp = gaugeMetric({
  name: 'service_dependency_up',
  help: 'Whether the service reaches the dependency (1) or not (0), as its readiness checks it',
  labelNames: ['dependency'],
  async collect() {
    await checkForScrape?.();
  },
});
/** The running service's check (one per process; an in-process test booting several services uses its last). */
let checkForScrape: (() => Promise<unknown>) | undefined;

/** Liveness: the process answers. Readiness: not shutting down, the database and the broker connections are up, and the broker answers. */
@ApiExcludeController()
@Public()
@Controller('health')
export class HealthController implements OnModuleInit, OnModuleDestroy {
  constructor(
    private readonly health: HealthCheckService,
    private readonly mongo: MongooseHealthIndicator,
    private readonly producer: EventProducer,
    private readonly consumer: KafkaEventServer,
    private readonly admin: TopicAdmin,
    private readonly work: BackgroundWork,
  ) {}

  private readonly scrapeCheck = () => this.dependencies();

  onModuleInit(): void {
    checkForScrape = this.scrapeCheck;
  }

  onModuleDestroy(): void {
    if (checkForScrape !== this.scrapeCheck) return;
    checkForScrape = undefined;
    dependencyUp.reset();
  }

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.shutdownCheck(), () => this.mongoCheck(), () => this.kafkaCheck()]);
  }

  /**
   * Not ready from the moment shutdown begins (closeService): a load balancer polling readiness stops sending requests
   * then, not only once the consumers have left their groups (which waits for the messages in flight).
   */
  private async shutdownCheck(): Promise<HealthIndicatorResult> {
    if (this.work.stopRequested) throw new HealthCheckError('shutting down', { shutdown: { status: 'down' } });
    return { shutdown: { status: 'up' } };
  }

  /** Both checks, their outcomes on the gauge. */
  private dependencies(): Promise<unknown> {
    return Promise.all([this.mongoCheck().catch(() => undefined), this.kafkaCheck().catch(() => undefined)]);
  }

  private async mongoCheck(): Promise<HealthIndicatorResult> {
    try {
      const result = await this.mongo.pingCheck('mongodb', { timeout: 1_500 });
      dependencyUp.set({ dependency: 'mongodb' }, 1);
      return result;
    } catch (error) {
      dependencyUp.set({ dependency: 'mongodb' }, 0);
      throw error;
    }
  }

  private async kafkaCheck(): Promise<HealthIndicatorResult> {
    const connected = this.producer.isConnected && this.consumer.isRunning;
    // The clients' states miss a broker that went away (KafkaJS reports only a disconnect it was asked for). Asked also
    // while a consumer is not running (a topic it may not create or read, a group it may not join: retried, said in the
    // log), so that the answer blames the broker only when it does not answer (a cached ping); not while the producer
    // is disconnected (the broker gone: answered at once, not after the ping's timeout). The gauge is the readiness's.
    const broker = this.producer.isConnected && (await this.admin.reachable());
    const up = connected && broker;
    dependencyUp.set({ dependency: 'kafka' }, up ? 1 : 0);
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
  }
}
