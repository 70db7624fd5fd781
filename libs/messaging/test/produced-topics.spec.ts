/**
 * A service creates the topics it writes, on a broker that does not create topics on first use (auto-creation off,
 * the default of managed clusters such as Amazon MSK or Confluent Cloud): those the catalog says it writes at start,
 * any other before its first send there, each with KAFKA_TOPIC_PARTITIONS partitions.
 */
import { Topics } from '@lib/contracts';
import { outboxPlugin, producerPartition, TopicAdmin } from '@lib/messaging';
import { PlatformModule } from '@lib/platform';
import { bootService, eventually, PROJECT_ROOT, runDir, RunningService, TestIssuer, uniqueName } from '@lib/testing';
import { KafkaServer, startKafka } from '@lib/testing/infra/kafka';
import { Module } from '@nestjs/common';
import { MongooseModule, Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Admin, ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';

jest.setTimeout(120_000);

@Schema({ collection: 'parcels' })
class Parcel {
  @Prop({ type: String }) _id!: string;
}
const ParcelSchema = SchemaFactory.createForClass(Parcel);
ParcelSchema.plugin(outboxPlugin);

/**
 * Named as the service the catalog says writes validation requests, a topic nothing in the platform consumes (so no
 * consumer creates it), and without consumers of its own: only what it writes needs a topic.
 */
@Module({
  imports: [PlatformModule.forService({ name: 'payout-profiles' }), MongooseModule.forFeature([{ name: Parcel.name, schema: ParcelSchema }])],
})
class PayoutProfilesLikeModule {}

/** Named as the service that writes identity events: a topic whose whole history builds other services' views. */
@Module({
  imports: [PlatformModule.forService({ name: 'identity' }), MongooseModule.forFeature([{ name: Parcel.name, schema: ParcelSchema }])],
})
class IdentityLikeModule {}

const PARTITIONS = 3; // not the broker's num.partitions (6)
const issuer = new TestIssuer();
const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true });
const dataDir = runDir('no-auto-create');
let broker: KafkaServer;
let admin: Admin;

beforeAll(async () => {
  await issuer.start();
  await mongo.connect();
  broker = await startKafka({ root: PROJECT_ROOT, dataDir, settings: { 'auto.create.topics.enable': false } });
  admin = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
}, 600_000);

afterAll(async () => {
  await admin?.disconnect().catch(() => undefined);
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  await mongo.close();
  await issuer.stop();
});

function boot(db: string, module: object = PayoutProfilesLikeModule): Promise<RunningService> {
  return bootService(module as never, {
    name: 'payout_profiles',
    env: { ...issuer.env(), KAFKA_BROKERS: broker.brokers.join(','), KAFKA_TOPIC_PARTITIONS: String(PARTITIONS), MONGO_DB: db },
  });
}

/** A topic's retention.ms (or another setting) as the broker describes it. */
async function retentionOf(topic: string, setting = 'retention.ms'): Promise<string | null | undefined> {
  const { resources } = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: [setting] }], includeSynonyms: false });
  return resources[0].configEntries.find((entry) => entry.configName === setting)?.configValue;
}

/** Partitions and records of each topic (fails while one does not exist). */
async function topicFigures(topics: string[]): Promise<Record<string, { partitions: number; records: number }>> {
  const { topics: found } = await admin.fetchTopicMetadata({ topics });
  const result: Record<string, { partitions: number; records: number }> = {};
  for (const { name, partitions } of found) {
    const offsets = await admin.fetchTopicOffsets(name);
    result[name] = { partitions: partitions.length, records: offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0) };
  }
  return result;
}

describe('topics a service writes, on a broker that does not create topics on first use', () => {
  it('exist from its start with KAFKA_TOPIC_PARTITIONS partitions, before anything was published to them', async () => {
    const service = await boot(uniqueName('parcels'));
    try {
      const produced = [Topics.payoutProfiles, Topics.validationRequests];
      expect(await eventually(() => topicFigures(produced), 30_000)).toEqual({
        [Topics.payoutProfiles]: { partitions: PARTITIONS, records: 0 },
        [Topics.validationRequests]: { partitions: PARTITIONS, records: 0 },
      });
      // As the relay reads them when a send fails on some partitions.
      expect(await service.app.get(TopicAdmin).partitionCounts(produced)).toEqual(new Map(produced.map((topic) => [topic, PARTITIONS])));
    } finally {
      await service.close();
    }
  });

  it('keep their whole history when their events build views (identity, programs, enrollments, invitations, profiles, outside systems) or wait to be read once (validation requests), the rest as the broker does', async () => {
    const services = [await boot(uniqueName('parcels'), IdentityLikeModule), await boot(uniqueName('parcels'))];
    try {
      await eventually(() => topicFigures([Topics.identity, Topics.payoutProfiles, Topics.validationRequests]), 30_000);
      expect(await retentionOf(Topics.identity)).toBe('-1');
      expect(await retentionOf(Topics.payoutProfiles)).toBe('-1');
      expect(await retentionOf(Topics.validationRequests)).toBe('-1');
      // An outside system's topic, as a consumer of it creates it: its records stamped by the broker's clock.
      await new TopicAdmin(new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }), { serviceName: 'enrollment' } as never).ensureTopics([Topics.agreements]);
      expect([await retentionOf(Topics.agreements), await retentionOf(Topics.agreements, 'message.timestamp.type')]).toEqual(['-1', 'LogAppendTime']);
      expect(await retentionOf(Topics.identity, 'message.timestamp.type')).toBe('CreateTime');
      // The outcomes of emails: the broker's retention (its log.retention.hours here).
      await new TopicAdmin(new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }), { serviceName: 'notification' } as never).ensureTopics([Topics.notifications]);
      expect(await retentionOf(Topics.notifications)).toBe(String(24 * 3_600_000));
    } finally {
      await Promise.all(services.map((service) => service.close()));
    }
  });

  it('are created before their first send, also one the catalog does not list, and the events after it are not held up', async () => {
    const db = uniqueName('parcels');
    const unlisted = `spec.unlisted.${randomUUID()}`;
    const entry = (topic: string, at: number) => ({ eventId: randomUUID(), topic, key: 'k', value: '{}', createdAt: new Date(at) });
    // Waiting in the outbox when the service starts: its relay's first send.
    await mongo.db(db).collection('parcels').insertOne({ _id: 'p1', outbox: [entry(unlisted, 1), entry(Topics.validationRequests, 2)] } as never);
    const service = await boot(db);
    try {
      await eventually(async () => expect((await mongo.db(db).collection('parcels').findOne({ _id: 'p1' } as never))?.outbox).toEqual([]), 30_000);
      expect(await topicFigures([unlisted, Topics.validationRequests])).toEqual({
        [unlisted]: { partitions: PARTITIONS, records: 1 },
        [Topics.validationRequests]: { partitions: PARTITIONS, records: 1 },
      });
      // On the partition the relay reckons its key is on (what it holds back when that partition does not answer).
      const offsets = await admin.fetchTopicOffsets(unlisted);
      expect(offsets.filter((p) => p.high !== '0').map((p) => p.partition)).toEqual([producerPartition(unlisted, 'k', PARTITIONS)]);
    } finally {
      await service.close();
    }
  });
});
