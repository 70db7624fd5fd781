/**
 * A service reaching a broker that requires TLS and SASL (SASL_SSL, as Confluent Cloud or Amazon MSK with SASL/SCRAM),
 * or TLS with a client certificate (mutual TLS), from its settings alone: KAFKA_TLS_* and KAFKA_SASL_*. Its consumer,
 * its outbox relay and its readiness all go over that connection; wrong credentials keep it not ready.
 * The broker is the project's local Kafka with two more listeners; the test reads and writes through its plaintext one.
 */
import { Topics } from '@lib/contracts';
import { bootService, eventually, freePort, OPERATOR_KEY, PROJECT_ROOT, runDir, RunningService, TestIssuer, TestKafka, TopicWatch, uniqueName } from '@lib/testing';
import { KafkaServer, startKafka } from '@lib/testing/infra/kafka';
import { makeTlsFiles, TlsFiles } from '@lib/testing/infra/tls-files';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { kafkaConnectionFromEnv } from '@lib/platform';
import { DeadLetters } from '../../../scripts/dead-letters';
import { ECHO_PREFIX, WidgetAppModule } from './widget.app';

jest.setTimeout(120_000);

const issuer = new TestIssuer();
const dir = runDir('secured-broker');
const USER = 'widgets';
const PASSWORD = 'widgets-s3cret';
let tls: TlsFiles;
let broker: KafkaServer;
let kafka: TestKafka;
let watch: TopicWatch;
/** host:port of the SASL_SSL listener (PLAIN) and of the SSL listener that requires a client certificate. */
let saslSsl: string;
let mutualTls: string;

beforeAll(async () => {
  await issuer.start();
  tls = makeTlsFiles(join(dir, 'tls'));
  const [plain, controller, secure, mtls] = [await freePort(), await freePort(), await freePort(), await freePort()];
  saslSsl = `127.0.0.1:${secure}`;
  mutualTls = `127.0.0.1:${mtls}`;
  broker = await startKafka({
    root: PROJECT_ROOT,
    dataDir: join(dir, 'kafka'),
    brokerPort: plain,
    controllerPort: controller,
    settings: {
      listeners: `PLAINTEXT://127.0.0.1:${plain},CONTROLLER://127.0.0.1:${controller},SECURE://${saslSsl},MTLS://${mutualTls}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${plain},SECURE://${saslSsl},MTLS://${mutualTls}`,
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SECURE:SASL_SSL,MTLS:SSL',
      'ssl.keystore.type': 'PEM',
      'ssl.keystore.location': tls.serverKeyAndCert,
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.location': tls.caCert,
      'listener.name.mtls.ssl.client.auth': 'required',
      'listener.name.secure.sasl.enabled.mechanisms': 'PLAIN',
      'listener.name.secure.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required user_${USER}="${PASSWORD}";`,
    },
  });
  kafka = new TestKafka(broker.brokers);
  watch = await kafka.watch([Topics.agreements]);
}, 600_000);

afterAll(async () => {
  await kafka?.close();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
  await issuer.stop();
});

function boot(env: Record<string, string>): Promise<RunningService> {
  return bootService(WidgetAppModule, { name: 'widgets', env: { ...issuer.env(), ...env } });
}

const readiness = async (service: RunningService) => (await fetch(`${service.url}/health/ready`)).status;

/** An agreement event in, the widget's echo out: consumed and published by the service over its connection. */
async function expectConsumesAndPublishes(service: RunningService): Promise<void> {
  await eventually(async () => expect(await readiness(service)).toBe(200), 60_000);
  const partnerId = uniqueName('partner');
  await kafka.publishEvent(Topics.agreements, partnerId, { type: 'AgreementStatusChanged', partnerId, data: { partnerId, active: true } });
  const [echo] = await watch.waitFor((m) => (m.envelope?.data as { partnerId?: string })?.partnerId === `${ECHO_PREFIX}${partnerId}`, { timeoutMs: 60_000 });
  expect(echo.envelope).toMatchObject({ source: 'widgets', type: 'AgreementStatusChanged' });
  // The relay removes the entry once the broker has acknowledged it: the echo may reach the watch just before that.
  await eventually(async () => {
    const widget = await (await fetch(`${service.url}/v1/widgets/${partnerId}`, { headers: { 'X-Operator-Key': OPERATOR_KEY } })).json();
    expect(widget).toMatchObject({ consumed: 1, outbox: [] });
  });
}

describe('a service on a broker that requires TLS and authentication', () => {
  it('over SASL_SSL, with the CA file and its user and password: ready, consuming and publishing', async () => {
    const service = await boot({
      KAFKA_BROKERS: saslSsl,
      KAFKA_TLS_CA_FILE: tls.caCert,
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: USER,
      KAFKA_SASL_PASSWORD: PASSWORD,
    });
    try {
      await expectConsumesAndPublishes(service);
    } finally {
      await service.close();
    }
  });

  it('over mutual TLS, presenting its client certificate: ready, consuming and publishing', async () => {
    const service = await boot({
      KAFKA_BROKERS: mutualTls,
      KAFKA_TLS_CA_FILE: tls.caCert,
      KAFKA_TLS_CERT_FILE: tls.clientCert,
      KAFKA_TLS_KEY_FILE: tls.clientKey,
    });
    try {
      await expectConsumesAndPublishes(service);
    } finally {
      await service.close();
    }
  });

  // The operators' tools connect as the services do, from the same settings: `npm run dlq`, `npm run event`.
  it("lets the operators' tools reach it with the services' settings (npm run dlq, npm run event)", async () => {
    const connection = kafkaConnectionFromEnv({
      KAFKA_TLS_CA_FILE: tls.caCert,
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: USER,
      KAFKA_SASL_PASSWORD: PASSWORD,
    });
    const partnerId = uniqueName('partner');
    const outside = new TestKafka([saslSsl], connection);
    try {
      await outside.publishEvent(Topics.agreements, partnerId, { type: 'AgreementStatusChanged', data: { partnerId, active: true } });
    } finally {
      await outside.close();
    }
    await watch.waitFor((m) => (m.envelope?.data as { partnerId?: string })?.partnerId === partnerId, { timeoutMs: 30_000 });
    expect(await new DeadLetters([saslSsl], connection).list(Topics.agreements)).toEqual(expect.any(Array));
    // Without them, refused (not read in plaintext with no login).
    await expect(new DeadLetters([saslSsl]).list(Topics.agreements)).rejects.toThrow();
  });

  // Each differs from a case above by one setting.
  it('with a wrong password, without the CA file (the system CAs do not know the broker), or without a client certificate where one is required: not ready', async () => {
    const sasl = { KAFKA_BROKERS: saslSsl, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: USER };
    const started = Date.now();
    const [rightly, ...services] = await Promise.all([
      boot({ ...sasl, KAFKA_TLS_CA_FILE: tls.caCert, KAFKA_SASL_PASSWORD: PASSWORD }),
      boot({ ...sasl, KAFKA_TLS_CA_FILE: tls.caCert, KAFKA_SASL_PASSWORD: 'not-it' }),
      boot({ ...sasl, KAFKA_TLS: 'true', KAFKA_SASL_PASSWORD: PASSWORD }),
      boot({ KAFKA_BROKERS: mutualTls, KAFKA_TLS_CA_FILE: tls.caCert }),
    ]);
    try {
      // Started with them, the one set up rightly is ready; they are given twice as long, and are not.
      await eventually(async () => expect(await readiness(rightly)).toBe(200), 60_000);
      await new Promise((r) => setTimeout(r, Date.now() - started));
      expect(await Promise.all(services.map(readiness))).toEqual([503, 503, 503]);
    } finally {
      await Promise.all([rightly, ...services].map((service) => service.close()));
    }
  });
});
