/**
 * Two replicas of a service in one consumer group, over the real broker: a second replica joins while the first is in
 * the middle of a backlog, the group rebalances with handlers in flight, and every event still has its effect exactly
 * once (none lost with the partitions handed over, none applied twice by the replica that takes them).
 */
import { Topics } from '@lib/contracts';
import { freePort, groupCaughtUp, startGroupAtEnd, TestIssuer, TestKafka, uniqueName, waitFor } from '@lib/testing';
import { producerPartition } from '@lib/messaging';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnWidget } from './widget.process';

jest.setTimeout(180_000);

const issuer = new TestIssuer();
const kafka = new TestKafka();
const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true });

beforeAll(async () => {
  await issuer.start();
  await mongo.connect();
  await kafka.ensureTopics([Topics.agreements]);
});

afterAll(async () => {
  await kafka.close();
  await mongo.close();
  await issuer.stop();
});

/** Partners (keys) per partition, each with a run of events handled one after the other: a partition keeps its replica busy. */
const PARTNERS_PER_PARTITION = 2;
const EVENTS_EACH = 60;

/**
 * Partner ids that the producer's default partitioner spreads evenly, `perPartition` on each partition of the topic:
 * whichever partitions the second replica is given, they hold work.
 */
/** The consumer group's state as the broker tells it (Stable, PreparingRebalance, ...). */
async function groupState(groupId: string): Promise<string> {
  const admin = new Kafka({ brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    return groups[0]?.state ?? 'Unknown';
  } finally {
    await admin.disconnect();
  }
}

async function evenlySpreadPartners(prefix: string, perPartition: number): Promise<string[]> {
  const admin = new Kafka({ brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  let partitionMetadata: Array<{ partitionId: number; leader: number }>;
  try {
    [{ partitions: partitionMetadata }] = (await admin.fetchTopicMetadata({ topics: [Topics.agreements] })).topics;
  } finally {
    await admin.disconnect();
  }
  const taken = new Map<number, string[]>();
  for (let i = 0; taken.size < partitionMetadata.length || [...taken.values()].some((keys) => keys.length < perPartition); i++) {
    const key = `${prefix}${i}`;
    const partition = producerPartition(Topics.agreements, key, partitionMetadata.length);
    const keys = taken.get(partition) ?? [];
    if (keys.length < perPartition) taken.set(partition, [...keys, key]);
  }
  return [...taken.values()].flat();
}

describe('a replica joining the group while another works through a backlog', () => {
  it('hands partitions over with handlers in flight: every event applied exactly once, by one replica or the other', async () => {
    const db = uniqueName('widgets');
    const groupId = uniqueName('widgets');
    await startGroupAtEnd(groupId, [Topics.agreements]);
    const widgets = mongo.db(db).collection<{ _id: string; consumed?: number; handledBy?: string }>('widgets');
    const run = db.slice(-8);

    // The first replica's handlers wait at this gate until the second replica is up: the group rebalances with them in
    // flight, however long the second one takes to start.
    const gate = join(tmpdir(), `${db}.gate`);
    writeFileSync(gate, '');
    const replica = async (instance: string, until: 'live' | 'ready') => {
      const port = await freePort();
      const server = spawnWidget({
        issuer,
        port,
        db,
        groupId,
        logName: `${db}-${instance}`,
        // Each event takes 200 ms: the first replica is still at it when the second one joins.
        env: { WIDGET_INSTANCE: instance, WIDGET_HANDLER_DELAY_MS: '200', WIDGET_GATE_FILE: gate },
      });
      // Ready = both connections up and the consumer in its group.
      const url = `http://127.0.0.1:${port}`;
      const up = (what: string) => waitFor(`widget replica ${instance} ${what}`, async () => (await fetch(`${url}/health/${what}`)).ok, { timeoutMs: 60_000 });
      await up(until);
      return { server, ready: () => up('ready') };
    };
    const partners = await evenlySpreadPartners(`rb-${run}-`, PARTNERS_PER_PARTITION);
    const EVENTS = partners.length * EVENTS_EACH;
    const docs = () => widgets.find({ _id: { $in: partners } }).toArray();
    const handled = async () => (await docs()).reduce((sum, d) => sum + (d.consumed ?? 0), 0);

    const first = await replica('a', 'ready');
    let second: Awaited<ReturnType<typeof replica>> | undefined;
    try {
      // Each partner's events on its own key (one partition, in order); two partners on each partition.
      for (let round = 0; round < EVENTS_EACH; round++) {
        await Promise.all(partners.map((partnerId) => kafka.publishEvent(Topics.agreements, partnerId, { type: 'AgreementStatusChanged', data: { partnerId, active: round % 2 === 0 } })));
      }
      // The second replica starts; its consumer joins the group (the rebalance waits for the first one's handlers).
      second = await replica('b', 'live');
      // Its join is pending (the group rebalancing) while the first one's handlers are held at the gate.
      await waitFor('the group rebalancing with handlers held', async () => (await groupState(groupId)) === 'PreparingRebalance', { timeoutMs: 60_000 });
      rmSync(gate);
      await second.ready();
      const whenSecondJoined = await handled();

      // At least: a duplicate shows below, in the per-partner counts, rather than as a timeout here.
      await waitFor('every event handled', async () => (await handled()) >= EVENTS, { timeoutMs: 120_000 });
      // The group's offsets at the end: the replicas commit after their effects, so whatever was redelivered after
      // the handover has been applied (and counted below) by then.
      await groupCaughtUp(groupId, [Topics.agreements], { timeoutMs: 60_000 });
      const final = await docs();
      expect(final).toHaveLength(partners.length);
      // Each event counted once: nothing lost in the handover, nothing applied again by the replica taking over.
      expect(final.filter((d) => d.consumed !== EVENTS_EACH).map((d) => `${d._id}: ${d.consumed}`)).toEqual([]);
      // The handover happened with work left: the second replica joined before the end, and the last events of some
      // partners were handled by it, of others by the first.
      expect(whenSecondJoined).toBeLessThan(EVENTS);
      const by = (instance: string) => final.filter((d) => d.handledBy === instance).length;
      expect(by('a')).toBeGreaterThan(0);
      expect(by('b')).toBeGreaterThan(0);
    } finally {
      rmSync(gate, { force: true });
      await Promise.all([first.server.stop(), second?.server.stop()]);
    }
  });
});
