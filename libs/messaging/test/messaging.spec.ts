import { createEnvelope, deadLetterTopic, DeadLetterHeaders, Topics } from '@lib/contracts';
import { KafkaEventServer } from '@lib/messaging';
import { bootService, eventually, freePort, groupCaughtUp, OPERATOR_KEY, PROJECT_ROOT, ReceivedMessage, runDir, RunningService, StallingProxy, startGroupAtEnd, TestIssuer, TestKafka, TopicWatch, uniqueName, waitFor } from '@lib/testing';
import { startMongoJavaServer } from '@lib/testing/infra/mongo-java-server';
import { randomUUID } from 'node:crypto';
import { Agent, get as httpGet } from 'node:http';
import { connect, createServer } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { ECHO_PREFIX, LONG_PAGES, LONG_PREFIX, ShutdownProbe, SLOW_PREFIX, WidgetAppModule, WidgetOwnConsumerAppModule } from './widget.app';
import { spawnWidget } from './widget.process';

jest.setTimeout(120_000);

const issuer = new TestIssuer();
const kafka = new TestKafka();
const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true });
let watch: TopicWatch;

beforeAll(async () => {
  await issuer.start();
  await mongo.connect();
  watch = await kafka.watch([Topics.agreements, deadLetterTopic(Topics.agreements)]);
});

afterAll(async () => {
  await kafka.close();
  await mongo.close();
  await issuer.stop();
});

function widgets(db: string) {
  return mongo.db(db).collection<{ _id: string; count?: number; consumed?: number; outbox?: unknown[]; slowStartedAt?: Date; pages?: number; runs?: number }>('widgets');
}

async function consumedCount(db: string, partnerId: string): Promise<number> {
  return (await widgets(db).findOne({ _id: partnerId }))?.consumed ?? 0;
}

function boot(env: Record<string, string> = {}): Promise<RunningService> {
  return bootService(WidgetAppModule, { name: 'widgets', env: { ...issuer.env(), ...env } });
}

/** Waits until the service's consumer has joined its group. */
async function ready(service: RunningService): Promise<void> {
  await eventually(async () => {
    const response = await fetch(`${service.url}/health/ready`);
    expect(response.status).toBe(200);
  }, 30_000);
}

describe('outbox', () => {
  it('publishes an event committed with its state change even when the process is killed (-9) before publishing', async () => {
    const db = uniqueName('widgets');
    const port = await freePort();
    // A group of its own, past the topic's history: a handler consuming an earlier suite's event would kick the
    // relay (EventOutbox.committed) and publish the event this test expects to stay in the document.
    const groupId = uniqueName('widgets');
    await startGroupAtEnd(groupId, [Topics.agreements]);
    const start = (env: Record<string, string>) => spawnWidget({ issuer, port, db, groupId, logName: db, env });
    const live = () =>
      waitFor('widget service', async () => (await fetch(`http://127.0.0.1:${port}/health/live`)).ok, { timeoutMs: 60_000 });

    // The relay only sweeps once an hour and the write does not kick it: the event stays in the document.
    const first = start({ WIDGET_KICK: 'false', OUTBOX_RELAY_INTERVAL_MS: '3600000', OUTBOX_SWEEP_INTERVAL_MS: '3600000' });
    await live();
    const response = await fetch(`http://127.0.0.1:${port}/v1/widgets/w1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-operator-key': OPERATOR_KEY },
      body: JSON.stringify({ active: true }),
    });
    expect(response.status).toBe(200);
    const { eventId } = (await response.json()) as { eventId: string };
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const stored = await widgets(db).findOne({ _id: 'w1' });
    expect(stored?.count).toBe(1);
    expect(stored?.outbox).toEqual([expect.objectContaining({ eventId, topic: Topics.agreements, key: `${ECHO_PREFIX}w1` })]);
    // Not published: a marker sent now with the entry's key goes to the same partition, after anything the killed
    // process may have sent. Once the watch has the marker, it would have the event too. (An echo partner: ignored
    // by the widget handler.)
    const marker = await kafka.publishEvent(Topics.agreements, `${ECHO_PREFIX}w1`, {
      type: 'AgreementStatusChanged',
      data: { partnerId: `${ECHO_PREFIX}marker-${db}`, active: true },
    });
    const [markerSeen] = await watch.waitFor((m) => m.envelope?.eventId === marker.eventId);
    expect(watch.find((m) => m.envelope?.eventId === eventId)).toHaveLength(0);

    // Restarted, the relay finds the event and publishes it, then empties the outbox.
    const second = start({});
    try {
      const [published] = await watch.waitFor((m) => m.envelope?.eventId === eventId, { timeoutMs: 60_000 });
      expect(published.key).toBe(`${ECHO_PREFIX}w1`);
      // The marker was on the event's partition: its arrival did cover the event.
      expect(published.partition).toBe(markerSeen.partition);
      expect(published.envelope).toMatchObject({ type: 'AgreementStatusChanged', source: 'widgets', version: 1 });
      await eventually(async () => expect((await widgets(db).findOne({ _id: 'w1' }))?.outbox).toEqual([]));
    } finally {
      await second.stop();
    }
  });
  it('publishes a backlog left in more documents than one sweep reads at a time in the order it was written', async () => {
    // A crashed writer's backlog for one key: 450 documents, the newest first in the collection's natural order, the
    // first one with a second event newer than all the others. The relay sweeps it at start, 200 documents a read.
    const db = uniqueName('widgets');
    const key = `${ECHO_PREFIX}order-${db}`;
    const base = Date.now() - 60_000;
    const entry = (n: number) => {
      const envelope = createEnvelope({ type: 'AgreementStatusChanged', source: 'widgets', partnerId: key, data: { partnerId: key, active: n % 2 === 0 } });
      return { eventId: envelope.eventId, topic: Topics.agreements, key, value: JSON.stringify(envelope), createdAt: new Date(base + n) };
    };
    const written = Array.from({ length: 451 }, (_, n) => entry(n));
    const docs = Array.from({ length: 450 }, (_, i) => ({ _id: `o${i}`, outbox: [written[449 - i]] }));
    docs[0].outbox.push(written[450]);
    await widgets(db).insertMany(docs);

    const service = await boot({ MONGO_DB: db });
    try {
      const published = await watch.waitFor((m) => m.key === key, { count: written.length, timeoutMs: 60_000 });
      expect(published.map((m) => m.envelope?.eventId)).toEqual(written.map((e) => e.eventId));
      await eventually(async () => expect(await widgets(db).countDocuments({ 'outbox.0': { $exists: true } })).toBe(0));
    } finally {
      await service.close();
    }
  });
});

describe('idempotent consumer', () => {
  it('applies an event delivered three times once, and a replay from the earliest offset changes nothing', async () => {
    const service = await boot();
    const { MONGO_DB: db, KAFKA_GROUP_ID: groupId } = service.env;
    const key = randomUUID();
    const partnerId = `p-${key}`;
    const event = createEnvelope({ type: 'AgreementStatusChanged', source: 'test', data: { partnerId, active: true } });
    for (let i = 0; i < 3; i++) await kafka.publish(Topics.agreements, key, event);
    const marker = `m-${key}`;
    await kafka.publishEvent(Topics.agreements, key, { type: 'AgreementStatusChanged', data: { partnerId: marker, active: true } });

    await eventually(async () => expect(await consumedCount(db, marker)).toBe(1), 30_000);
    expect(await consumedCount(db, partnerId)).toBe(1);
    // The effect emitted one echo event per applied event, not per delivery.
    const [echo] = await watch.waitFor((m) => m.envelope?.causationId === event.eventId);
    // Everything the relay will send for it is sent once the document's outbox is empty. A sentinel published after
    // that with the echo's key lands behind any second echo on the same partition: once the watch has it, it has them.
    const echoKey = `${ECHO_PREFIX}${partnerId}`;
    expect(echo.key).toBe(echoKey);
    await eventually(async () => expect((await widgets(db).findOne({ _id: partnerId }))?.outbox).toEqual([]));
    const sentinel = await kafka.publishEvent(Topics.agreements, echoKey, {
      type: 'AgreementStatusChanged',
      data: { partnerId: `${ECHO_PREFIX}sentinel-${key}`, active: true },
    });
    const [sentinelSeen] = await watch.waitFor((m) => m.envelope?.eventId === sentinel.eventId);
    expect(sentinelSeen.partition).toBe(echo.partition);
    expect(watch.find((m) => m.envelope?.causationId === event.eventId)).toHaveLength(1);
    // Everything on the topic consumed before the snapshot: another suite's backlog (the rebalance spec publishes
    // thousands) still being consumed when the service stopped would be applied by the replay, changing documents of
    // the snapshot.
    await groupCaughtUp(groupId, [Topics.agreements], { timeoutMs: 60_000 });
    await service.close();
    // The whole state before the replay (every document the service wrote in its database).
    const snapshot = async () => (await widgets(db).find({ _id: { $ne: `m2-${key}` } } as never).sort({ _id: 1 }).toArray()).map(({ outbox: _outbox, ...doc }) => doc);
    const before = await snapshot();

    // Rewind the group to the start of the topic and consume everything again.
    const admin = new Kafka({ brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.resetOffsets({ groupId, topic: Topics.agreements, earliest: true });
    await admin.disconnect();
    const replay = await boot({ MONGO_DB: db, KAFKA_GROUP_ID: groupId });
    const marker2 = `m2-${key}`;
    await kafka.publishEvent(Topics.agreements, key, { type: 'AgreementStatusChanged', data: { partnerId: marker2, active: true } });
    await eventually(async () => expect(await consumedCount(db, marker2)).toBe(1), 60_000);
    expect(await consumedCount(db, partnerId)).toBe(1);
    expect(await consumedCount(db, marker)).toBe(1);
    // Nothing else changed either, and the replay published no second echo (a sentinel behind it on its partition).
    // (A broker reused across runs, `npm run infra`, holds earlier runs' events too: the replay applies them, to
    // documents of their own.)
    const ids = new Set(before.map((doc) => doc._id));
    expect((await snapshot()).filter((doc) => ids.has(doc._id))).toEqual(before);
    await eventually(async () => expect((await widgets(db).findOne({ _id: partnerId }))?.outbox ?? []).toEqual([]));
    const sentinel2 = await kafka.publishEvent(Topics.agreements, echoKey, { type: 'AgreementStatusChanged', data: { partnerId: `${ECHO_PREFIX}sentinel2-${key}`, active: true } });
    await watch.waitFor((m) => m.envelope?.eventId === sentinel2.eventId);
    expect(watch.find((m) => m.envelope?.causationId === event.eventId)).toHaveLength(1);
    await replay.close();
  });
});

describe('dead letters', () => {
  it('sends malformed messages to <topic>.dlq with their origin, and goes on with the next message of the partition', async () => {
    const service = await boot();
    const db = service.env.MONGO_DB;
    const key = randomUUID();
    await kafka.publish(Topics.agreements, key, 'not json at all');
    await kafka.publish(Topics.agreements, key, createEnvelope({ type: 'AgreementStatusChanged', source: 'test', data: { partnerId: `bad-${key}`, active: 'yes' } }));
    await kafka.publish(Topics.agreements, key, createEnvelope({ type: 'SomethingNew', source: 'test', data: { partnerId: `new-${key}` } }));
    // A later producer's event, with fields this version does not know in its envelope and payload: applied.
    const later = `later-${key}`;
    await kafka.publish(Topics.agreements, key, { ...createEnvelope({ type: 'AgreementStatusChanged', source: 'test', data: { partnerId: later, active: true, agreementType: 'MPA' } }), tenant: 'eu' });
    const good = `good-${key}`;
    await kafka.publishEvent(Topics.agreements, key, { type: 'AgreementStatusChanged', data: { partnerId: good, active: true } });

    await eventually(async () => expect(await consumedCount(db, good)).toBe(1), 30_000);
    expect(await consumedCount(db, later)).toBe(1);
    const deadLetter = (m: ReceivedMessage) =>
      m.topic === deadLetterTopic(Topics.agreements) && m.key === key && m.headers[DeadLetterHeaders.consumerGroup] === service.env.KAFKA_GROUP_ID;
    await watch.waitFor(deadLetter, { count: 2 });
    // Every dead letter of the key was sent (and acknowledged) before `good` was handled. A sentinel sent now with
    // the same key lands behind them on the same DLQ partition: once the watch has it, it has them all.
    const sentinel = `sentinel-${key}`;
    await kafka.publish(deadLetterTopic(Topics.agreements), key, sentinel);
    const [sentinelSeen] = await watch.waitFor((m) => m.topic === deadLetterTopic(Topics.agreements) && m.raw === sentinel);
    const dead = watch.find(deadLetter);
    expect(dead.map((m) => m.partition)).toEqual(dead.map(() => sentinelSeen.partition));
    const [notJson, badPayload] = [...dead].sort((a, b) => Number(a.headers[DeadLetterHeaders.originalOffset]) - Number(b.headers[DeadLetterHeaders.originalOffset]));
    expect(notJson.raw).toBe('not json at all');
    expect(notJson.headers[DeadLetterHeaders.error]).toMatch(/not JSON/);
    expect(notJson.headers[DeadLetterHeaders.originalTopic]).toBe(Topics.agreements);
    // Its origin as the broker placed it: that message's own partition and offset (not the offset to commit after it).
    const [original] = watch.find((m) => m.topic === Topics.agreements && m.raw === 'not json at all' && m.key === key);
    expect(notJson.headers[DeadLetterHeaders.originalPartition]).toBe(String(original.partition));
    expect(notJson.headers[DeadLetterHeaders.originalOffset]).toBe(original.offset);
    const [originalBad] = watch.find((m) => m.topic === Topics.agreements && m.key === key && m.envelope?.data !== undefined && (m.envelope.data as { partnerId?: string }).partnerId === `bad-${key}`);
    expect(badPayload.headers[DeadLetterHeaders.originalOffset]).toBe(originalBad.offset);
    expect(badPayload.headers[DeadLetterHeaders.error]).toMatch(/active/);
    // An unknown event type is not an error: it is skipped (forward compatibility), not dead-lettered.
    expect(dead.find((m) => m.raw.includes('SomethingNew'))).toBeUndefined();
    expect(await consumedCount(db, `bad-${key}`)).toBe(0);
    await service.close();
  });
});

describe('a topic with a consumer of its own', () => {
  it("reads it in group <group>-<name>, started where the service group had got to (nothing before replayed); its dead letters name that group, its ledger is the service group's", async () => {
    const groupId = uniqueName('widgets');
    const key = randomUUID();
    const before = `before-${key}`;
    await kafka.publishEvent(Topics.agreements, key, { type: 'AgreementStatusChanged', data: { partnerId: before, active: true } });
    // The service's group as an earlier release left it: past `before`.
    await startGroupAtEnd(groupId, [Topics.agreements]);
    const service = await bootService(WidgetOwnConsumerAppModule, { name: 'widgets', env: { ...issuer.env(), KAFKA_GROUP_ID: groupId } });
    const admin = new Kafka({ brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await ready(service);
      const db = service.env.MONGO_DB;
      const after = `after-${key}`;
      // Applied already by the service's consumer (a replica of the release before the topic had a consumer of its own),
      // and by the own consumer of a release that recorded under its group: skipped, both.
      const ledgers = mongo.db(db).collection('processed_events');
      const applied = [`${groupId}`, `${groupId}-agreements`].map((group) => ({ group, partnerId: `applied-${group}-${key}`, eventId: randomUUID() }));
      for (const { group, eventId } of applied) await ledgers.insertOne({ _id: `${group}:${eventId}` as never, topic: Topics.agreements, partition: 0, offset: '0', processedAt: new Date() });
      for (const { partnerId, eventId } of applied) {
        await kafka.publishEvent(Topics.agreements, key, { type: 'AgreementStatusChanged', data: { partnerId, active: true }, eventId });
      }
      await kafka.publish(Topics.agreements, key, 'not json at all');
      const event = await kafka.publishEvent(Topics.agreements, key, { type: 'AgreementStatusChanged', data: { partnerId: after, active: true } });
      await eventually(async () => expect(await consumedCount(db, after)).toBe(1), 30_000);
      expect(await consumedCount(db, before)).toBe(0);
      for (const { partnerId } of applied) expect(await consumedCount(db, partnerId)).toBe(0);
      const [dead] = await watch.waitFor((m) => m.topic === deadLetterTopic(Topics.agreements) && m.key === key);
      expect(dead.headers[DeadLetterHeaders.consumerGroup]).toBe(`${groupId}-agreements`);
      expect(await ledgers.findOne({ _id: `${groupId}:${event.eventId}` as never })).not.toBeNull();
      expect(await ledgers.findOne({ _id: `${groupId}-agreements:${event.eventId}` as never })).toBeNull();
      const { groups } = await admin.describeGroups([groupId, `${groupId}-agreements`]);
      expect(groups.map((g) => g.members.length)).toEqual([0, 1]);
    } finally {
      await admin.disconnect();
      await service.close();
    }
  });
});

describe('service lifecycle', () => {
  it('is live but not ready while the broker is unreachable', async () => {
    const deadPort = await freePort();
    const service = await boot({ KAFKA_BROKERS: `127.0.0.1:${deadPort}` });
    try {
      expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
      const response = await fetch(`${service.url}/health/ready`);
      expect(response.status).toBe(503);
      expect(JSON.stringify(await response.json())).toMatch(/kafka/);
    } finally {
      await service.close();
    }
  });

  it('is ready with both connections up, and not ready once the database goes away; a write then answers 503 with Retry-After', async () => {
    const dataDir = runDir('ready');
    const ownMongo = await startMongoJavaServer({ root: PROJECT_ROOT, dataDir });
    const service = await boot({ MONGO_URL: ownMongo.url });
    try {
      await ready(service);
      await ownMongo.stop();
      await eventually(async () => expect((await fetch(`${service.url}/health/ready`)).status).toBe(503), 20_000);
      expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
      // Not a 500: nothing is wrong with the request, and the same request may succeed once the database is back.
      const write = await fetch(`${service.url}/v1/widgets/${randomUUID()}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-operator-key': OPERATOR_KEY },
        body: JSON.stringify({ active: true }),
      });
      expect(write.status).toBe(503);
      expect(write.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(write.headers.get('retry-after')).toBe('5');
      expect(await write.json()).toMatchObject({ type: expect.stringMatching(/\/dependency-unavailable$/) });
    } finally {
      await service.close().catch(() => undefined);
      await ownMongo.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('goes not ready within 20 s when the database stops answering without closing its connections, and ready again once it answers', async () => {
    const target = new URL(process.env.MONGO_URL!);
    const proxy = new StallingProxy(target.host);
    const through = new URL(process.env.MONGO_URL!);
    through.host = await proxy.start();
    const service = await boot({ MONGO_URL: through.toString() });
    try {
      await ready(service);
      proxy.stall();
      // Its connections still open: ready until the driver's monitor gives up on the server, its next heartbeat (every
      // 10 s) unanswered for connectTimeoutMS (10 s; the driver's default, 30 s, left it ready for up to 40 s).
      await eventually(async () => expect((await fetch(`${service.url}/health/ready`)).status).toBe(503), 25_000, 250);
      const answer = (await (await fetch(`${service.url}/health/ready`)).json()) as { details?: { mongodb?: { status: string } } };
      expect(answer.details?.mongodb?.status).toBe('down');
      // A request meanwhile fails once the driver gives up on the server (its heartbeat unanswered for connectTimeoutMS):
      // 503, not an answer held until the network comes back.
      const write = await fetch(`${service.url}/v1/widgets/${randomUUID()}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-operator-key': OPERATOR_KEY },
        body: JSON.stringify({ active: true }),
        signal: AbortSignal.timeout(23_000), // the next heartbeat within 10 s, unanswered for connectTimeoutMS' 10 s (the driver's default 30 s: about 27 s here)
      });
      expect(write.status).toBe(503);
      proxy.resume();
      await eventually(async () => expect((await fetch(`${service.url}/health/ready`)).status).toBe(200), 30_000, 250);
    } finally {
      proxy.resume();
      await service.close().catch(() => undefined);
      await proxy.stop();
    }
  });

  it('stops consuming first when shut down, before the modules\' destroy hooks (drains, batch jobs) run (SPEC 5)', async () => {
    const service = await boot();
    await ready(service);
    const probe = service.app.get(ShutdownProbe);
    expect(service.app.get(KafkaEventServer).isRunning).toBe(true);
    await service.close();
    expect(probe.consumingAtDestroy).toBe(false);
  });

  // A client keeping its connection alive (behind a Service it keeps its TCP connections to the terminating pod) and
  // sending without pause: the shutdown must not wait for it (it would run into SHUTDOWN_TIMEOUT_MS and exit before the
  // outbox flush and the database close). Node 20's server.close() closes such a connection between two requests.
  it('finishes while a keep-alive client keeps sending', async () => {
    const service = await boot();
    await ready(service);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const answers: Array<string | undefined> = [];
    let sending = true;
    const get = () =>
      new Promise<void>((resolve) => {
        const request = httpGet(`${service.url}/health/live`, { agent }, (response) => {
          answers.push(response.headers.connection);
          response.resume().on('end', resolve);
        });
        request.on('error', () => resolve());
      });
    const loop = (async () => {
      while (sending) await get();
    })();
    await eventually(async () => expect(answers.length).toBeGreaterThan(5));
    expect(answers[0]).toBe('keep-alive');

    const startedAt = Date.now();
    const closed = service.close().then(() => Date.now() - startedAt);
    // Within 15 s, short of SHUTDOWN_TIMEOUT_MS (20 s), which a hang would run into. The consumer's disconnect alone may
    // wait up to 5 s for its fetch in flight (KafkaJS maxWaitTimeInMs), with the keep-alive loop on the same event loop.
    const tookMs = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 15_000))]);
    sending = false;
    await loop;
    await closed;
    agent.destroy();
    expect(tookMs).toBeLessThan(15_000);
  });

  // The port taken: the start fails after its consumers and relay started. Closed as a shutdown is (the consumers leave
  // their groups at once, not after their session timeout on every restart of a crash loop), said in one line, exit 1.
  it('closes what it started and exits 1, saying why, when its start fails part way (the port taken)', async () => {
    const taken = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => taken.listen(port, resolve));
    try {
      const db = uniqueName('widgets');
      const widget = spawnWidget({ issuer, port, db, groupId: uniqueName('widgets'), logName: db, env: { LOG_LEVEL: 'info' } });
      const exit = await Promise.race([widget.exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 40_000))]);
      if (exit === 'hung') await widget.stop(1_000);
      expect(exit).toEqual({ code: 1, signal: null });
      const log = readFileSync(widget.logFile, 'utf8');
      expect(log).toMatch(/widgets could not start: Error: listen EADDRINUSE/);
      expect(log).not.toMatch(/UnhandledPromiseRejection|triggerUncaughtException/);
    } finally {
      taken.close();
    }
  });

  // A request that never completes (a client stalled mid-body; Node's requestTimeout is 300 s): the server's close
  // would wait for it, past SHUTDOWN_TIMEOUT_MS, and the outbox flush and the database close after it would not run.
  it('finishes while a client stalls mid-request: its connection is cut after half the shutdown time', async () => {
    const service = await boot({ SHUTDOWN_TIMEOUT_MS: '4000' });
    await ready(service);
    const socket = connect(Number(new URL(service.url).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const cut = new Promise((resolve) => socket.once('close', resolve));
    socket.write(`POST /v1/widgets/${randomUUID()} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"active":`);
    const startedAt = Date.now();
    const tookMs = await Promise.race([service.close().then(() => Date.now() - startedAt), new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 10_000))]);
    await cut;
    // Given its 2 s first; then done (the consumer's disconnect alone may take up to 5 s: its fetch in flight).
    expect(tookMs).toBeGreaterThanOrEqual(1_900);
    expect(tookMs).toBeLessThan(9_000);
  });

  it('finishes the message in flight, publishes its events and commits it when shut down', async () => {
    const service = await boot();
    const { MONGO_DB: db, KAFKA_GROUP_ID: groupId } = service.env;
    await ready(service);
    const key = randomUUID();
    const slow = `${SLOW_PREFIX}${key}`;
    const event = await kafka.publishEvent(Topics.agreements, key, { type: 'AgreementStatusChanged', data: { partnerId: slow, active: true } });
    // The handler is in flight (it marks its start, then sleeps 1.5 s): shut down now.
    await eventually(async () => expect((await widgets(db).findOne({ _id: slow }))?.slowStartedAt).toBeDefined(), 30_000);
    await service.close();

    expect(await consumedCount(db, slow)).toBe(1);
    expect((await widgets(db).findOne({ _id: slow }))?.outbox).toEqual([]);
    // The event the handler emitted was flushed from the outbox before the process let go.
    await watch.waitFor((m) => m.envelope?.causationId === event.eventId, { timeoutMs: 30_000 });

    // After a restart in the same group, the message is not handled again.
    const again = await boot({ MONGO_DB: db, KAFKA_GROUP_ID: groupId });
    const marker = `m-${key}`;
    await kafka.publishEvent(Topics.agreements, key, { type: 'AgreementStatusChanged', data: { partnerId: marker, active: true } });
    await eventually(async () => expect(await consumedCount(db, marker)).toBe(1), 30_000);
    expect(await consumedCount(db, slow)).toBe(1);
    await again.close();
  });

  it('ends long work at its next page when shutdown begins (its heartbeat throws), leaves the message uncommitted, and the restart finishes it', async () => {
    const service = await boot({ WIDGET_LONG_WORK: 'true' });
    const { MONGO_DB: db, KAFKA_GROUP_ID: groupId } = service.env;
    await ready(service);
    const key = randomUUID();
    const long = `${LONG_PREFIX}${key}`;
    await kafka.publishEvent(Topics.agreements, key, { type: 'AgreementStatusChanged', data: { partnerId: long, active: true } });
    await eventually(async () => expect((await widgets(db).findOne({ _id: long }))?.pages).toBeGreaterThanOrEqual(2), 30_000);
    await service.close();
    // Stopped at a page boundary (4 s of pages; it would otherwise hold the shutdown to their end), not handled.
    const stopped = (await widgets(db).findOne({ _id: long }))!;
    expect(stopped.pages).toBeLessThan(LONG_PAGES);
    expect(stopped.consumed ?? 0).toBe(0);

    // Redelivered in the same group: the work goes on from where it stopped, and the event is handled once.
    const again = await boot({ MONGO_DB: db, KAFKA_GROUP_ID: groupId, WIDGET_LONG_WORK: 'true' });
    try {
      await eventually(async () => expect(await consumedCount(db, long)).toBe(1), 60_000);
      expect(await widgets(db).findOne({ _id: long })).toMatchObject({ pages: LONG_PAGES, runs: 2 });
    } finally {
      await again.close();
    }
  });
});
