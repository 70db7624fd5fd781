import { Kafka } from 'kafkajs';
import { TopicAdmin } from './topic-admin';

/**
 * A broker stand-in for the admin client: counts connections, creates topics with leaders after `delayMs`;
 * `refuseSettings`: a policy refusing any topic setting (as a managed cluster capping retention).
 */
function fakeKafka({ delayMs = 20, failFirst = false, refuseSettings = false, failAfterCreate = false, connectFails = 0 } = {}) {
  const topics = new Set<string>();
  const stats = { connects: 0, disconnects: 0, pings: 0, pingFails: 0, creates: [] as string[][], settings: {} as Record<string, unknown> };
  let fail = failFirst;
  const kafka = {
    admin: () => ({
      connect: async () => {
        stats.connects++;
        // Failed past the socket (a hung broker's ApiVersions, a SASL refusal): what it opened stays until disconnected.
        if (connectFails-- > 0) throw new Error('Request ApiVersions timed out');
      },
      disconnect: async () => void stats.disconnects++,
      listTopics: async () => [...topics],
      createTopics: async ({ topics: wanted }: { topics: Array<{ topic: string; configEntries?: Array<{ name: string; value: string }> }> }) => {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        if (fail) {
          fail = false;
          throw new Error('broker unavailable');
        }
        // The broker's answer to CreateTopics, refusing the settings: an error per topic (KafkaJS's aggregate).
        if (refuseSettings && wanted.some((t) => t.configEntries?.length)) {
          throw Object.assign(new Error('Topic creation policy violation'), { name: 'KafkaJSAggregateError', errors: [{ type: 'POLICY_VIOLATION' }] });
        }
        wanted.forEach((t) => (stats.settings[t.topic] = Object.fromEntries((t.configEntries ?? []).map((e) => [e.name, e.value]))));
        stats.creates.push(wanted.map((t) => t.topic));
        wanted.forEach((t) => topics.add(t.topic));
        // Created, then its wait for the leaders failed (a broker that does not host the new partition yet).
        if (failAfterCreate) throw Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' });
        return true;
      },
      describeCluster: async () => {
        stats.pings++;
        if (stats.pingFails > 0) {
          stats.pingFails--;
          throw new Error('connection closed');
        }
        return { brokers: [] };
      },
      fetchTopicMetadata: async ({ topics: names }: { topics: string[] }) => ({
        topics: names.map((name) => ({ name, partitions: topics.has(name) ? [{ partitionId: 0, leader: 1 }] : [] })),
      }),
    }),
  } as unknown as Kafka;
  return { kafka, stats, topics };
}

describe('TopicAdmin.ensureTopics', () => {
  it('creates a topic once for calls made while it is being created, each returning once it exists', async () => {
    const { kafka, stats } = fakeKafka();
    const admin = new TopicAdmin(kafka, { serviceName: 'test' } as never);
    await Promise.all(Array.from({ length: 12 }, () => admin.ensureTopics(['orders.dlq'])));
    expect(stats.connects).toBe(1);
    expect(stats.creates).toEqual([['orders.dlq']]);
    // One being created and one not: the new one alone is created, the call waits for both.
    const first = admin.ensureTopics(['a']);
    await admin.ensureTopics(['a', 'b', 'b']);
    await first;
    expect(stats.creates).toEqual([['orders.dlq'], ['a'], ['b']]);
    // Known topics cost nothing.
    await admin.ensureTopics(['a', 'b', 'orders.dlq']);
    expect(stats.connects).toBe(3);
  });

  it('keeps the whole history of a topic whose history builds views; where the cluster refuses that, creates it with its defaults, and says so', async () => {
    const { kafka, stats } = fakeKafka();
    await new TopicAdmin(kafka, { serviceName: 'test' } as never).ensureTopics(['identity.events.v1', 'enrollments.events.v1', 'notifications.events.v1', 'agreements.status.v1']);
    expect(stats.settings).toEqual({
      'identity.events.v1': { 'retention.ms': '-1' },
      'enrollments.events.v1': { 'retention.ms': '-1' },
      'notifications.events.v1': {},
      // An outside system's: its records stamped by the broker (events dated ahead are judged against that).
      'agreements.status.v1': { 'retention.ms': '-1', 'message.timestamp.type': 'LogAppendTime' },
    });

    const refusing = fakeKafka({ refuseSettings: true });
    const admin = new TopicAdmin(refusing.kafka, { serviceName: 'test' } as never);
    const warn = jest.spyOn((admin as unknown as { logger: { warn: (m: string) => void } }).logger, 'warn').mockImplementation(() => undefined);
    await admin.ensureTopics(['identity.events.v1', 'notifications.events.v1']);
    expect(refusing.stats.settings).toEqual({ 'identity.events.v1': {}, 'notifications.events.v1': {} });
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Created identity\.events\.v1 with the cluster's default settings: it refused \{"retention\.ms":"-1"\} \(Topic creation policy violation\)/));
  });

  it("takes a topic created with its settings whose creation call then failed (waiting for its leaders) as created: no second creation without them, no warning", async () => {
    const { kafka, stats } = fakeKafka({ failAfterCreate: true });
    const admin = new TopicAdmin(kafka, { serviceName: 'test' } as never);
    const warn = jest.spyOn((admin as unknown as { logger: { warn: (m: string) => void } }).logger, 'warn').mockImplementation(() => undefined);
    await admin.ensureTopics(['identity.events.v1', 'notifications.events.v1']);
    expect(stats.creates).toEqual([['identity.events.v1', 'notifications.events.v1']]);
    expect(stats.settings).toEqual({ 'identity.events.v1': { 'retention.ms': '-1' }, 'notifications.events.v1': {} });
    expect(warn).not.toHaveBeenCalled();
  });

  it('looks again for a topic it was told to forget (a send there failed: deleted since), and creates it', async () => {
    const { kafka, stats, topics } = fakeKafka();
    const admin = new TopicAdmin(kafka, { serviceName: 'test' } as never);
    await admin.ensureTopics(['orders.dlq']);
    topics.delete('orders.dlq'); // an operator purging it
    await admin.ensureTopics(['orders.dlq']);
    expect(stats.creates).toEqual([['orders.dlq']]); // known: not looked for
    admin.forget(['orders.dlq']);
    await admin.ensureTopics(['orders.dlq']);
    expect(stats.creates).toEqual([['orders.dlq'], ['orders.dlq']]);
  });

  it('lets every waiting call see a failed creation, and tries again on the next call', async () => {
    const { kafka, stats } = fakeKafka({ failFirst: true });
    const admin = new TopicAdmin(kafka, { serviceName: 'test' } as never);
    const calls = await Promise.allSettled([admin.ensureTopics(['t']), admin.ensureTopics(['t'])]);
    expect(calls.map((c) => c.status)).toEqual(['rejected', 'rejected']);
    expect(stats.connects).toBe(1);
    await admin.ensureTopics(['t']);
    expect(stats.creates).toEqual([['t']]);
    expect(stats.connects).toBe(2);
  });

  it('disconnects a client whose connection failed, before trying again on the next call', async () => {
    const { kafka, stats } = fakeKafka({ connectFails: 1 });
    const admin = new TopicAdmin(kafka, { serviceName: 'test' } as never);
    await expect(admin.ensureTopics(['t'])).rejects.toThrow('ApiVersions');
    expect(stats).toMatchObject({ connects: 1, disconnects: 1 });
    await admin.ensureTopics(['t']);
    expect(stats).toMatchObject({ connects: 2, disconnects: 2, creates: [['t']] });
  });
});

describe('TopicAdmin.ping', () => {
  it('pings over one kept connection; one that fails is dropped and the next ping connects again; closed at shutdown', async () => {
    const { kafka, stats } = fakeKafka();
    const admin = new TopicAdmin(kafka, { serviceName: 'test' } as never);
    await admin.ping();
    await admin.ping();
    await admin.ping();
    expect(stats).toMatchObject({ connects: 1, pings: 3, disconnects: 0 });
    stats.pingFails = 1;
    await expect(admin.ping()).rejects.toThrow('connection closed');
    await new Promise((resolve) => setImmediate(resolve));
    expect(stats.disconnects).toBe(1);
    await admin.ping();
    expect(stats).toMatchObject({ connects: 2, pings: 5 });
    admin.onModuleDestroy();
    await new Promise((resolve) => setImmediate(resolve));
    expect(stats.disconnects).toBe(2);
  });
});
