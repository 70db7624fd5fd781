import { HealthCheckError } from '@nestjs/terminus';
import { register } from 'prom-client';
import { BackgroundWork } from '../lifecycle/background-work';
import { HealthController } from './health.controller';

/** The readiness check of Kafka with its clients faked (a pure unit test): what it answers and what the gauge says. */
function controller(state: { producer: boolean; consumer: boolean; broker: boolean }) {
  const pings: number[] = [];
  const subject = new HealthController(
    {} as never,
    {} as never,
    { isConnected: state.producer } as never,
    { isRunning: state.consumer, topics: ['t'] } as never,
    { reachable: async () => (pings.push(1), state.broker) } as never,
    new BackgroundWork(),
  );
  const check = () => (subject as unknown as { kafkaCheck(): Promise<unknown> }).kafkaCheck();
  return { check, pings };
}

async function kafkaGauge(): Promise<number | undefined> {
  const metric = await register.getSingleMetric('service_dependency_up')!.get();
  return metric.values.find((v) => v.labels.dependency === 'kafka')?.value;
}

describe('readiness of Kafka', () => {
  it("blames the consumer, not the broker, when the broker answers but a consumer is not running (a topic or group it may not use)", async () => {
    const { check } = controller({ producer: true, consumer: false, broker: true });
    const error = (await check().catch((e: unknown) => e)) as HealthCheckError;
    expect(error).toBeInstanceOf(HealthCheckError);
    expect(error.causes).toMatchObject({ kafka: { status: 'down', consumer: false, broker: true } });
    expect(await kafkaGauge()).toBe(0); // not ready: the alert fires, and the answer tells which
  });

  it('says the broker is away when it does not answer, and does not ask it while the producer is disconnected', async () => {
    const away = controller({ producer: true, consumer: true, broker: false });
    expect(((await away.check().catch((e: unknown) => e)) as HealthCheckError).causes).toMatchObject({ kafka: { broker: false } });
    expect(await kafkaGauge()).toBe(0);
    const disconnected = controller({ producer: false, consumer: false, broker: true });
    await expect(disconnected.check()).rejects.toBeInstanceOf(HealthCheckError);
    expect(disconnected.pings).toEqual([]);
    expect(await kafkaGauge()).toBe(0);
  });

  it('is up when every client runs and the broker answers', async () => {
    const { check } = controller({ producer: true, consumer: true, broker: true });
    await expect(check()).resolves.toMatchObject({ kafka: { status: 'up' } });
    expect(await kafkaGauge()).toBe(1);
  });
});
