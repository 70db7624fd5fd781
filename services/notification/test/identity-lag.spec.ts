/**
 * A role granted just before the event it allowed (an Enroll by an admin made admin a moment before): the enrollment's
 * event may be handled before the identity event that tells this service about the role, since the two topics are
 * consumed side by side. The service waits for the identity events published before the enrollment's, then looks again.
 */
import { createEnvelope, Topics, UserSnapshot } from '@lib/contracts';
import { bootService, eventually, RunningService, SmtpTestServer, startGroupAtEnd, TestIssuer, uniqueName } from '@lib/testing';
import { Kafka, logLevel, Partitioners, Producer } from 'kafkajs';
import { Db, MongoClient } from 'mongodb';
import { randomUUID } from 'node:crypto';
import { AppModule } from '../src/app.module';
import { IdentityCatchUp } from '../src/recipients/identity-catch-up';
import { CURRENT_FY } from './support/world';

jest.setTimeout(120_000);

const TOPICS = [Topics.identity, Topics.invitations, Topics.enrollments, Topics.payoutProfiles, Topics.programs];
/** Identity events ahead of the role on the partner's partition: they keep the view busy while the enrollment's event is handled. */
const BACKLOG = 800;
/** A backlog larger than one fetch of the partition (KafkaJS: 1 MiB; about 630 bytes each, 1.9 MB), as after a restart or a bulk import. */
const LARGE_BACKLOG = 3_000;

const issuer = new TestIssuer();
const smtp = new SmtpTestServer();
const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true });
const kafka = new Kafka({ clientId: 'identity-lag-spec', brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
let producer: Producer;

beforeAll(async () => {
  await Promise.all([issuer.start(), smtp.start(), mongo.connect()]);
  producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
});

afterAll(async () => {
  await producer?.disconnect();
  await smtp.stop();
  await mongo.close();
  await issuer.stop();
});

const user = (partnerId: string, name: string, roles: UserSnapshot['roles']): UserSnapshot => {
  const userId = `u-${name}-${randomUUID().slice(0, 8)}`;
  return { userId, partnerId, email: `${userId}@contoso.example`, displayName: name, active: true, roles, revision: 1 };
};

/** An enrollment at the location needs its Incentives admins' action: the event that tells them. */
const actionRequired = (partnerId: string, locationId: string) =>
  createEnvelope({
    source: 'enrollment',
    type: 'EnrollmentActionRequired',
    partnerId,
    locationId,
    data: {
      enrollmentId: `enr-${randomUUID()}`,
      programId: 'prog-growth',
      programName: 'Azure Growth',
      partnerId,
      locationId,
      fiscalYear: 'FY27',
      status: 'ACTION_REQUIRED',
      reasons: [],
      missing: ['BANK_PROFILE_MISSING'],
      revision: 2,
    },
  });

/** The partner registered and `admin` created, both applied to the service's view before anything else is published. */
async function knownToTheView(db: Db, partnerId: string, locationId: string, admin: UserSnapshot): Promise<void> {
  await publishIdentity(partnerId, [partnerRegistered(partnerId, locationId), createEnvelope({ source: 'identity', type: 'UserCreated', partnerId, data: { user: admin } })]);
  await eventually(async () => expect(await db.collection('access_users').findOne({ _id: admin.userId as never })).toBeTruthy(), 30_000);
}

/** The invitations service's InvitationIssued for the location, naming these admins. */
const invitationIssued = (partnerId: string, locationId: string, admins: UserSnapshot[]) =>
  createEnvelope({
    source: 'invitations',
    type: 'InvitationIssued',
    partnerId,
    locationId,
    data: {
      invitationId: `inv-${randomUUID()}`,
      programId: 'prog-growth',
      programName: 'Azure Growth',
      partnerId,
      locationId,
      fiscalYear: CURRENT_FY,
      invitationVersion: 1,
      recipients: admins.map(({ userId, email, displayName }) => ({ userId, email, displayName })),
      channels: ['EMAIL', 'NOTICE'],
      getStartedUrl: 'https://portal.test/incentives/enroll',
      requiresEligibility: true,
    },
  });

/** Identity events of the partner, on its partition, in order (sends of at most 1,000). */
async function publishIdentity(partnerId: string, events: Array<ReturnType<typeof createEnvelope>>): Promise<void> {
  for (let i = 0; i < events.length; i += 1_000) {
    const messages = events.slice(i, i + 1_000).map((e) => ({ key: partnerId, value: JSON.stringify(e) }));
    await producer.send({ topic: Topics.identity, acks: -1, messages });
  }
}

const partnerRegistered = (partnerId: string, locationId: string) =>
  createEnvelope({ source: 'identity', type: 'PartnerRegistered', partnerId, data: { partnerId, name: 'Contoso', locations: [{ locationId, country: 'US', legalName: 'Contoso East' }] } });

/** Users of the location who are not admins: identity traffic that keeps the view busy. */
const readers = (partnerId: string, locationId: string, count: number) =>
  Array.from({ length: count }, (_, i) =>
    createEnvelope({ source: 'identity', type: 'UserCreated', partnerId, data: { user: user(partnerId, `reader${i}`, [{ role: 'INCENTIVES_USER', locationIds: [locationId] }]) } }),
  );

/**
 * Everything is on the topics before the service starts, its group positioned just before it: its first fetch holds
 * the partner's identity backlog ending with the new admin, and the enrollment's event, handled side by side.
 */
async function bootAfter(
  env: Record<string, string>,
  partnerId: string,
  locationId: string,
  admin: UserSnapshot,
  backlog = BACKLOG,
): Promise<{ service: RunningService; eventId: string }> {
  const groupId = uniqueName('notification');
  await startGroupAtEnd(groupId, TOPICS);
  await publishIdentity(partnerId, [
    partnerRegistered(partnerId, locationId),
    ...readers(partnerId, locationId, backlog),
    createEnvelope({ source: 'identity', type: 'UserCreated', partnerId, data: { user: admin } }),
  ]);
  const event = actionRequired(partnerId, locationId);
  await producer.send({ topic: Topics.enrollments, acks: -1, messages: [{ key: locationId, value: JSON.stringify(event) }] });
  const service = await bootService(AppModule, {
    name: 'notification',
    env: { ...issuer.env(), KAFKA_PARTITIONS_CONCURRENCY: '6', KAFKA_GROUP_ID: groupId, SMTP_URL: smtp.url, ...env },
  });
  return { service, eventId: event.eventId };
}

describe('an admin whose role reaches the service after the event about their location', () => {
  it('is told once the identity events published before it are handled, in entries dated when written (after the wait)', async () => {
    const partnerId = `p-${randomUUID()}`;
    const locationId = `L-${randomUUID().slice(0, 8)}`;
    const admin = user(partnerId, 'admin', [{ role: 'INCENTIVES_ADMIN', locationIds: [locationId] }]);
    // When each wait for the identity events ended.
    const waited: number[] = [];
    const waitFor = IdentityCatchUp.prototype.waitFor;
    const spy = jest.spyOn(IdentityCatchUp.prototype, 'waitFor').mockImplementation(async function (this: IdentityCatchUp, ...args) {
      const outcome = await waitFor.apply(this, args);
      waited.push(Date.now());
      return outcome;
    });
    const { service, eventId } = await bootAfter({ NOTIFY_IDENTITY_WAIT_MS: '60000' }, partnerId, locationId, admin);
    try {
      const [mail] = await smtp.waitFor(admin.email);
      expect(mail.parsed.subject).toContain('Action required: Azure Growth enrollment');
      const messages = await mongo.db(service.env.MONGO_DB).collection('messages').find({ causationEventId: eventId }).toArray();
      expect(messages.map((m) => `${m.userId} ${m.channel}`).sort()).toEqual([`${admin.userId} EMAIL`, `${admin.userId} INBOX`]);
      expect(waited).toHaveLength(1);
      for (const message of messages) expect(message.createdAt.getTime()).toBeGreaterThanOrEqual(waited[0]);
    } finally {
      spy.mockRestore();
      await service.close();
    }
  });

  it('is told after a backlog of identity events larger than a fetch: they have a consumer of their own, which the wait does not hold up', async () => {
    const partnerId = `p-${randomUUID()}`;
    const locationId = `L-${randomUUID().slice(0, 8)}`;
    const admin = user(partnerId, 'admin', [{ role: 'INCENTIVES_ADMIN', locationIds: [locationId] }]);
    const { service, eventId } = await bootAfter({ NOTIFY_IDENTITY_WAIT_MS: '20000' }, partnerId, locationId, admin, LARGE_BACKLOG);
    try {
      const [mail] = await smtp.waitFor(admin.email, { timeoutMs: 60_000 });
      expect(mail.parsed.subject).toContain('Action required: Azure Growth enrollment');
      const messages = await mongo.db(service.env.MONGO_DB).collection('messages').find({ causationEventId: eventId }).toArray();
      expect(messages.map((m) => `${m.userId} ${m.channel}`).sort()).toEqual([`${admin.userId} EMAIL`, `${admin.userId} INBOX`]);
    } finally {
      await service.close();
    }
  });
});

/** The service, its group positioned at the end of its topics: it handles what is published from now on. */
async function bootAtEnd(): Promise<RunningService> {
  const groupId = uniqueName('notification');
  await startGroupAtEnd(groupId, TOPICS);
  return bootService(AppModule, {
    name: 'notification',
    env: { ...issuer.env(), KAFKA_PARTITIONS_CONCURRENCY: '6', KAFKA_GROUP_ID: groupId, SMTP_URL: smtp.url, NOTIFY_IDENTITY_WAIT_MS: '60000' },
  });
}

describe('a second Incentives admin of a location, whose role reaches the service after the event about it', () => {
  it('is told too, although the view already knew another admin there: the view is a view behind the event', async () => {
    const partnerId = `p-${randomUUID()}`;
    const locationId = `L-${randomUUID().slice(0, 8)}`;
    const first = user(partnerId, 'first', [{ role: 'INCENTIVES_ADMIN', locationIds: [locationId] }]);
    const second = user(partnerId, 'second', [{ role: 'INCENTIVES_ADMIN', locationIds: [locationId] }]);
    const service = await bootAtEnd();
    try {
      const db = mongo.db(service.env.MONGO_DB);
      await knownToTheView(db, partnerId, locationId, first);

      // A bulk import, then the second admin (made admin just before the Enroll), then the enrollment's event: the
      // identity consumer is still working through the import when the enrollment's event is handled.
      await publishIdentity(partnerId, [
        ...readers(partnerId, locationId, LARGE_BACKLOG),
        createEnvelope({ source: 'identity', type: 'UserCreated', partnerId, data: { user: second } }),
      ]);
      const event = actionRequired(partnerId, locationId);
      await producer.send({ topic: Topics.enrollments, acks: -1, messages: [{ key: locationId, value: JSON.stringify(event) }] });

      await smtp.waitFor(first.email, { timeoutMs: 60_000 });
      // The messages of one event are written together: once the first admin's email is out, every message of it exists.
      const messages = await db.collection('messages').find({ causationEventId: event.eventId }).toArray();
      expect(messages.map((m) => `${m.userId} ${m.channel}`).sort()).toEqual(
        [`${first.userId} EMAIL`, `${first.userId} INBOX`, `${second.userId} EMAIL`, `${second.userId} INBOX`].sort(),
      );
      const [mail] = await smtp.waitFor(second.email);
      expect(mail.parsed.subject).toContain('Action required: Azure Growth enrollment');
    } finally {
      await service.close();
    }
  });
});

describe('an Incentives admin reactivated just before the invitation naming them', () => {
  it('is invited once the view has caught up to the event, although it knew them as deactivated and the invitation names another admin it knows', async () => {
    const partnerId = `p-${randomUUID()}`;
    const locationId = `L-${randomUUID().slice(0, 8)}`;
    const known = user(partnerId, 'known', [{ role: 'INCENTIVES_ADMIN', locationIds: [locationId] }]);
    const back = user(partnerId, 'back', [{ role: 'INCENTIVES_ADMIN', locationIds: [locationId] }]);
    const service = await bootAtEnd();
    try {
      const db = mongo.db(service.env.MONGO_DB);
      await publishIdentity(partnerId, [
        partnerRegistered(partnerId, locationId),
        createEnvelope({ source: 'identity', type: 'UserCreated', partnerId, data: { user: known } }),
        createEnvelope({ source: 'identity', type: 'UserCreated', partnerId, data: { user: back } }),
        createEnvelope({ source: 'identity', type: 'UserDeactivated', partnerId, data: { user: { ...back, active: false, revision: 2 } } }),
      ]);
      await eventually(async () => expect(await db.collection('access_users').findOne({ _id: back.userId as never })).toEqual(expect.objectContaining({ active: false })), 30_000);

      // A bulk import, then the reactivation, then the invitation naming both admins: the identity consumer is still
      // working through the import when the invitation is handled.
      await publishIdentity(partnerId, [
        ...readers(partnerId, locationId, LARGE_BACKLOG),
        createEnvelope({ source: 'identity', type: 'UserUpdated', partnerId, data: { user: { ...back, revision: 3 } } }),
      ]);
      const event = invitationIssued(partnerId, locationId, [known, back]);
      await producer.send({ topic: Topics.invitations, acks: -1, messages: [{ key: locationId, value: JSON.stringify(event) }] });

      await smtp.waitFor(known.email, { timeoutMs: 60_000 });
      const messages = await db.collection('messages').find({ causationEventId: event.eventId }).toArray();
      expect(messages.map((m) => `${m.userId} ${m.channel}`).sort()).toEqual(
        [`${known.userId} EMAIL`, `${known.userId} INBOX`, `${back.userId} EMAIL`, `${back.userId} INBOX`].sort(),
      );
      const [mail] = await smtp.waitFor(back.email);
      expect(mail.parsed.subject).toBe('Partner Incentive Enrollment Invitation');
    } finally {
      await service.close();
    }
  });
});

// Created and made Incentives admin just before the invitation naming them (a bulk import), the identity consumer still
// working through the import when the invitation is handled: once the view has caught up they are known with their
// role, and their email records what it was addressed for (checked again before it is sent: a role taken away while
// it waits cancels it). Trusted as named without the wait, it recorded nothing, and went out whatever became of the role.
describe('an Incentives admin the view does not know yet when the invitation naming them is handled', () => {
  it('is waited for: their messages are checked against the role they were addressed for', async () => {
    const partnerId = `p-${randomUUID()}`;
    const locationId = `L-${randomUUID().slice(0, 8)}`;
    const known = user(partnerId, 'known', [{ role: 'INCENTIVES_ADMIN', locationIds: [locationId] }]);
    const fresh = user(partnerId, 'fresh', [{ role: 'INCENTIVES_ADMIN', locationIds: [locationId] }]);
    const service = await bootAtEnd();
    try {
      const db = mongo.db(service.env.MONGO_DB);
      await knownToTheView(db, partnerId, locationId, known);
      await publishIdentity(partnerId, [...readers(partnerId, locationId, LARGE_BACKLOG), createEnvelope({ source: 'identity', type: 'UserCreated', partnerId, data: { user: fresh } })]);
      const event = invitationIssued(partnerId, locationId, [known, fresh]);
      await producer.send({ topic: Topics.invitations, acks: -1, messages: [{ key: locationId, value: JSON.stringify(event) }] });
      await smtp.waitFor(fresh.email, { timeoutMs: 60_000 });
      const email = await db.collection('messages').findOne({ causationEventId: event.eventId, userId: fresh.userId, channel: 'EMAIL' });
      expect(email?.audience).toBeDefined();
    } finally {
      await service.close();
    }
  });
});

// A location just added and invited at once (its Incentives admin holds `*`, known to the view): the invitation's event
// may be handled before the view has applied LocationAdded. Planned without the wait, the email named the location by
// its bare id, for good (the label is written into the message).
describe('an invitation to a location the view does not know yet', () => {
  it('names the location once the view has caught up to the event, not by its bare id', async () => {
    const partnerId = `p-${randomUUID()}`;
    const [first, added] = [`L-${randomUUID().slice(0, 8)}`, `L-${randomUUID().slice(0, 8)}`];
    const everywhere = user(partnerId, 'everywhere', [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }]);
    const service = await bootAtEnd();
    try {
      const db = mongo.db(service.env.MONGO_DB);
      await knownToTheView(db, partnerId, first, everywhere);
      await publishIdentity(partnerId, [
        ...readers(partnerId, first, LARGE_BACKLOG),
        createEnvelope({ source: 'identity', type: 'LocationAdded', partnerId, data: { partnerId, locationId: added, country: 'US', legalName: 'Contoso North' } }),
      ]);
      const event = invitationIssued(partnerId, added, [everywhere]);
      await producer.send({ topic: Topics.invitations, acks: -1, messages: [{ key: added, value: JSON.stringify(event) }] });
      const [mail] = await smtp.waitFor(everywhere.email, { timeoutMs: 60_000 });
      expect(mail.parsed.text).toContain(`Contoso North (${added})`);
      const inbox = await db.collection('messages').findOne({ causationEventId: event.eventId, userId: everywhere.userId, channel: 'INBOX' });
      expect(inbox?.text).toContain(`Contoso North (${added})`);
    } finally {
      await service.close();
    }
  });
});
