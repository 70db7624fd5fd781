/**
 * What /metrics tells a platform team about the messaging of a service, against the real broker and database: how far
 * each consumer group is behind (read from the broker), and how old the oldest event is that the outbox relay has not
 * published (while the broker is away, and back to 0 once it returns).
 */
import { Topics } from '@lib/contracts';
import { bootService, eventually, freePort, metricSamples, OPERATOR_KEY, PROJECT_ROOT, runDir, RunningService, TestIssuer, TestKafka } from '@lib/testing';
import { startKafka } from '@lib/testing/infra/kafka';
import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WidgetAppModule } from './widget.app';

jest.setTimeout(180_000);

const issuer = new TestIssuer();
const kafka = new TestKafka();

beforeAll(() => issuer.start());
afterAll(async () => {
  await kafka.close();
  await issuer.stop();
});

const samples = metricSamples;

async function value(service: RunningService, name: string): Promise<number | undefined> {
  return (await samples(service, name))[0]?.value;
}

async function ready(service: RunningService, timeoutMs = 30_000): Promise<void> {
  await eventually(async () => expect((await fetch(`${service.url}/health/ready`)).status).toBe(200), timeoutMs);
}

describe('kafka_consumer_group_lag', () => {
  it("counts per partition the messages the service's group has not committed, from the broker, and goes back to 0 once they are handled", async () => {
    // The handler waits while this file exists (WidgetController.onAgreement reads the setting at each event).
    const gateDir = runDir('lag-gate');
    mkdirSync(gateDir, { recursive: true });
    const gate = join(gateDir, 'closed');
    writeFileSync(gate, '');
    process.env.WIDGET_GATE_FILE = gate;
    const service = await bootService(WidgetAppModule, { name: 'widgets', env: issuer.env(), startAtEndOf: [Topics.agreements] });
    const group = service.env.KAFKA_GROUP_ID;
    const lagOf = async () => (await samples(service, 'kafka_consumer_group_lag')).filter(({ labels }) => labels.group === group && labels.topic === Topics.agreements);
    try {
      await ready(service);
      await eventually(async () => expect((await lagOf()).length).toBeGreaterThan(0), 15_000);
      expect((await lagOf()).every(({ value }) => value === 0)).toBe(true);

      for (let i = 0; i < 5; i++) await kafka.publishEvent(Topics.agreements, randomUUID(), { type: 'AgreementStatusChanged', data: { partnerId: `lag-${randomUUID()}`, active: true } });
      await eventually(async () => expect((await lagOf()).reduce((sum, { value }) => sum + value, 0)).toBe(5), 20_000);
      expect((await lagOf()).every(({ labels }) => /^\d+$/.test(labels.partition))).toBe(true);

      rmSync(gate);
      // Back to 0 on series still there (a sum of none is 0 too: the reader gives none when the broker is slow).
      await eventually(async () => {
        const lag = await lagOf();
        expect(lag.length).toBeGreaterThan(0);
        expect(lag.reduce((sum, { value }) => sum + value, 0)).toBe(0);
      }, 30_000);
    } finally {
      delete process.env.WIDGET_GATE_FILE;
      rmSync(gateDir, { recursive: true, force: true });
      await service.close();
    }
  });
});

describe('outbox relay figures', () => {
  it('the oldest unpublished event ages while the broker is away, failures are counted, and both go back to 0 once it returns', async () => {
    const dataDir = runDir('metrics-broker');
    const ports = { brokerPort: await freePort(), controllerPort: await freePort() };
    let broker = await startKafka({ root: PROJECT_ROOT, dataDir, ...ports });
    let service: RunningService | undefined;
    try {
      service = await bootService(WidgetAppModule, { name: 'widgets', env: { ...issuer.env(), KAFKA_BROKERS: broker.brokers.join(',') } });
      const running = service;
      await ready(running);
      const startedAt = Date.now() / 1_000;
      await eventually(async () => expect(await value(running, 'outbox_relay_last_success_timestamp_seconds')).toBeGreaterThanOrEqual(startedAt), 10_000);
      expect(await value(running, 'outbox_oldest_unpublished_seconds')).toBe(0);
      expect(await value(running, 'outbox_relay_consecutive_failures')).toBe(0);

      await broker.stop();
      const write = async (id: string) => {
        const response = await fetch(`${running.url}/v1/widgets/${id}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-operator-key': OPERATOR_KEY },
          body: JSON.stringify({ active: true }),
        });
        expect(response.status).toBe(200);
      };
      const outboxOf = async (id: string) =>
        ((await (await fetch(`${running.url}/v1/widgets/${id}`, { headers: { 'x-operator-key': OPERATOR_KEY } })).json()) as { outbox: unknown[] }).outbox;
      const id = `w-${randomUUID()}`;
      const writtenAt = Date.now();
      await write(id);
      // The relay's sends wait and retry while the broker is away: the event is not published, and its age shows it.
      await eventually(async () => expect(await value(running, 'outbox_oldest_unpublished_seconds')).toBeGreaterThanOrEqual(3), 60_000);
      expect(await value(running, 'outbox_oldest_unpublished_seconds')).toBeLessThanOrEqual((Date.now() - writtenAt) / 1_000 + 1);
      expect(await outboxOf(id)).toHaveLength(1);
      await eventually(async () => expect(await value(running, 'outbox_relay_consecutive_failures')).toBeGreaterThanOrEqual(1), 90_000);

      broker = await startKafka({ root: PROJECT_ROOT, dataDir, ...ports });
      await eventually(async () => expect(await outboxOf(id)).toHaveLength(0), 60_000);
      await eventually(async () => {
        expect(await value(running, 'outbox_oldest_unpublished_seconds')).toBe(0);
        expect(await value(running, 'outbox_relay_consecutive_failures')).toBe(0);
      }, 10_000);
    } finally {
      await service?.close().catch(() => undefined);
      await broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('kafka_messages_keyed_otherwise_total', () => {
  it("counts an outside system's message keyed otherwise than its topic's contract (an agreement not keyed by its partnerId), and applies it all the same", async () => {
    const service = await bootService(WidgetAppModule, { name: 'widgets', env: issuer.env(), startAtEndOf: [Topics.agreements] });
    const db = service.env.MONGO_DB;
    const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true });
    const keyedOtherwise = async () =>
      (await samples(service, 'kafka_messages_keyed_otherwise_total')).find(({ labels }) => labels.topic === Topics.agreements)?.value ?? 0;
    const consumed = async (partnerId: string) => (await mongo.db(db).collection<{ _id: string; consumed?: number }>('widgets').findOne({ _id: partnerId }))?.consumed ?? 0;
    try {
      await ready(service);
      const before = await keyedOtherwise();
      const keyed = `keyed-${randomUUID()}`;
      await kafka.publishEvent(Topics.agreements, keyed, { type: 'AgreementStatusChanged', data: { partnerId: keyed, active: true } });
      await eventually(async () => expect(await consumed(keyed)).toBe(1), 30_000);
      expect(await keyedOtherwise()).toBe(before);
      const otherwise = `otherwise-${randomUUID()}`;
      await kafka.publishEvent(Topics.agreements, randomUUID(), { type: 'AgreementStatusChanged', data: { partnerId: otherwise, active: true } });
      await eventually(async () => expect(await consumed(otherwise)).toBe(1), 30_000);
      expect(await keyedOtherwise()).toBe(before + 1);
    } finally {
      await mongo.close();
      await service.close();
    }
  });
});

describe('http_request_duration_seconds', () => {
  it('counts answers given before routing (a malformed JSON body, a body too large, another content type) and to no route (404) as unmatched, and routed ones by their route', async () => {
    const service = await bootService(WidgetAppModule, { name: 'widgets', env: issuer.env(), startAtEndOf: [Topics.agreements] });
    try {
      await ready(service);
      const count = async (status: string, route: string) =>
        (await samples(service, 'http_request_duration_seconds_count')).find((s) => s.labels.method === 'POST' && s.labels.status === status && s.labels.route === route)?.value ?? 0;
      const post = (body: string, contentType = 'application/json') =>
        fetch(`${service.url}/v1/widgets/w-${randomUUID()}`, { method: 'POST', headers: { 'content-type': contentType, 'x-operator-key': OPERATOR_KEY }, body });
      // The registry is the process's: other specs of this file may have counted requests already.
      const series: Array<[string, string]> = [['400', 'unmatched'], ['413', 'unmatched'], ['415', 'unmatched'], ['200', '/v1/widgets/:id'], ['404', 'unmatched']];
      const before = await Promise.all(series.map(([status, route]) => count(status, route)));
      expect((await post('{"active": tru')).status).toBe(400);
      expect((await post(JSON.stringify({ active: true, padding: 'x'.repeat(1_100_000) }))).status).toBe(413);
      expect((await post('active=true', 'application/x-www-form-urlencoded')).status).toBe(415);
      expect((await post(JSON.stringify({ active: true }))).status).toBe(200);
      // No route: not the catch-all the logging middleware is mounted on (`/*`).
      expect((await fetch(`${service.url}/v1/no-such-thing/${randomUUID()}`, { method: 'POST', headers: { 'x-operator-key': OPERATOR_KEY } })).status).toBe(404);
      const after = await Promise.all(series.map(([status, route]) => count(status, route)));
      expect(after.map((value, i) => value - before[i])).toEqual([1, 1, 1, 1, 1]);
    } finally {
      await service.close();
    }
  });
});
