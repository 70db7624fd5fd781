import type { EventOutbox } from '@lib/messaging';
import { randomUUID } from 'node:crypto';
import mongoose, { Connection, Model } from 'mongoose';
import type { NotificationConfig } from '../src/config';
import type { DeliveryMetrics } from '../src/delivery/delivery-metrics';
import type { Mailer } from '../src/delivery/mailer';
import { InvitationDigests } from '../src/delivery/invitation-digests';
import { HandOverMessages } from '../src/messages/usecases/hand-over-messages.use-case';
import { RenderAgain } from '../src/messages/usecases/render-again.use-case';
import { DeliverEmail } from '../src/delivery/usecases/deliver-email.use-case';
import type { InvitationProgressRepository } from '../src/invitations/invitation-progress.repository';
import type { ProfileProgressRepository } from '../src/profiles/profile-progress.repository';
import { Message, MessageSchema } from '../src/messages/message.schema';
import type { RecipientDirectory } from '../src/recipients/recipient-directory';
import { waitingEmail } from './support/emails';

/**
 * The claims of DeliverEmail against the real database server of the run (no broker, no SMTP): what a claim
 * takes, what a release gives back, what a group claim returns when its write fails, and how long recording an
 * outcome keeps trying.
 */
let connection: Connection;
let messages: Model<Message>;
let deliver: DeliverEmail;

beforeAll(async () => {
  connection = await mongoose
    .createConnection(process.env.MONGO_URL!, { dbName: `notification_claims_${randomUUID().slice(0, 8)}`, directConnection: true, serverSelectionTimeoutMS: 10_000 })
    .asPromise();
  messages = connection.model(Message.name, MessageSchema);
  await messages.init();
  const config = { NOTIFY_LEASE_MS: 60_000 } as NotificationConfig;
  deliver = new DeliverEmail(messages, {} as Mailer, {} as EventOutbox, {} as RecipientDirectory, {} as InvitationProgressRepository, {} as ProfileProgressRepository, {} as DeliveryMetrics, {} as InvitationDigests, {} as HandOverMessages, {} as RenderAgain, config);
});

afterAll(async () => {
  await connection?.dropDatabase().catch(() => undefined);
  await connection?.close();
});

afterEach(() => jest.restoreAllMocks());

type Stored = Record<string, unknown> & { _id: string };

async function insert(fields: Partial<Record<string, unknown>>): Promise<string> {
  const email = waitingEmail({ partnerId: 'p-claims', userId: 'u-claims', email: 'ann@contoso.example.com', ...fields });
  await messages.collection.insertOne(email as never);
  return email._id;
}

const stored = async (id: string) => (await messages.collection.findOne({ _id: id as never })) as unknown as Stored;
const inAnHour = () => new Date(Date.now() + 3_600_000);

describe('claims by id with known attempts', () => {
  it('take nothing whose nextAttemptAt has not come, and leave it as it was; once it has come they take it', async () => {
    const nextAttemptAt = inAnHour();
    const waiting = [await insert({ nextAttemptAt }), await insert({ nextAttemptAt })];
    const retry = await insert({ status: 'RETRY', attempts: 2, nextAttemptAt, lastError: 'EENVELOPE 451' });
    const before = await Promise.all([...waiting, retry].map(stored));

    expect(await deliver.claimManyById(waiting, 0)).toEqual([]);
    expect(await deliver.claimById(waiting[0], 0)).toBeNull();
    expect(await deliver.claimById(retry, 2)).toBeNull();
    expect(await Promise.all([...waiting, retry].map(stored))).toEqual(before);

    const later = new Date(nextAttemptAt.getTime() + 1);
    const group = await deliver.claimManyById(waiting, 0, later);
    expect(group.map((m) => m._id).sort()).toEqual([...waiting].sort());
    expect(await deliver.claimById(retry, 2, later)).toMatchObject({ _id: retry, status: 'SENDING', attempts: 3 });
  });

  it('take what is due as before', async () => {
    const due = [await insert({}), await insert({})];
    const claimed = await deliver.claimManyById(due, 0);
    const byId = (a: { _id: string }, b: { _id: string }) => a._id.localeCompare(b._id);
    expect(claimed.sort(byId).map((m) => [m._id, m.status, m.attempts])).toEqual([...due].sort().map((id) => [id, 'SENDING', 1]));
    expect(await deliver.claimById(await insert({}), 0)).toMatchObject({ status: 'SENDING', attempts: 1 });
  });
});

describe('release', () => {
  it('gives claimed emails back, due now, without counting the attempt the claim counted', async () => {
    const fresh = [await insert({}), await insert({})];
    const retry = await insert({ status: 'RETRY', attempts: 3, nextAttemptAt: new Date(Date.now() - 60_000), lastError: 'ETIMEDOUT' });
    const claimed = [...(await deliver.claimManyById(fresh, 0)), (await deliver.claimById(retry, 3))!];
    expect(claimed).toHaveLength(3);

    const released = Date.now();
    await deliver.release(claimed);

    for (const id of fresh) {
      const email = await stored(id);
      expect(email).toMatchObject({ status: 'PENDING', attempts: 0 });
      expect(email).not.toHaveProperty('leaseToken');
      expect(email).not.toHaveProperty('leaseUntil');
      expect(+(email.nextAttemptAt as Date)).toBeLessThanOrEqual(Date.now());
      expect(+(email.nextAttemptAt as Date)).toBeGreaterThanOrEqual(released - 1_000);
    }
    expect(await stored(retry)).toMatchObject({ status: 'RETRY', attempts: 3, lastError: 'ETIMEDOUT' });
    // Due again at once, with the attempts the worker knows: the next claim by id takes them.
    expect((await deliver.claimManyById(fresh, 0)).map((m) => m.attempts)).toEqual([1, 1]);
  });

  it('changes nothing once the lease is someone else\'s', async () => {
    const id = await insert({});
    const claimed = (await deliver.claimById(id, 0))!;
    // The lease expired and another worker took the email over.
    await messages.collection.updateOne({ _id: id as never }, { $set: { leaseToken: 'another-worker' }, $inc: { attempts: 1 } });
    const before = await stored(id);
    await deliver.release([claimed]);
    expect(await stored(id)).toEqual(before);
  });
});

describe('a group claim whose write fails', () => {
  it('still returns what it won, read back by its lease token', async () => {
    const ids = [await insert({}), await insert({})];
    const bulkWrite = messages.collection.bulkWrite.bind(messages.collection);
    jest.spyOn(messages.collection, 'bulkWrite').mockImplementation((async (...args: Parameters<typeof bulkWrite>) => {
      await bulkWrite(...args);
      throw Object.assign(new Error('connection reset after the write (the reply was lost)'), { name: 'MongoNetworkError' });
    }) as never);
    const claimed = await deliver.claimManyById(ids, 0);
    expect(claimed.map((m) => m._id).sort()).toEqual([...ids].sort());
    expect(new Set(claimed.map((m) => m.leaseToken)).size).toBe(1);
    expect((await stored(ids[0])).leaseToken).toBe(claimed[0].leaseToken);
  });

  it('fails when it won nothing, so that the worker reports it', async () => {
    const ids = [await insert({}), await insert({})];
    jest.spyOn(messages.collection, 'bulkWrite').mockRejectedValue(new Error('not primary') as never);
    await expect(deliver.claimManyById(ids, 0)).rejects.toThrow('not primary');
    expect((await stored(ids[0])).status).toBe('PENDING');
  });
});

describe('recording an outcome while the database fails', () => {
  it('retries only while the lease lasts (its end as last written, less a sixth of a lease), then gives up', async () => {
    const id = await insert({});
    const [claimed] = await deliver.claimManyById([id], 0);
    // The lease ends 11 s from now (as its last renewal wrote it): with a 60 s lease, recording may try for about 1 s.
    const message = { ...claimed, leaseUntil: new Date(Date.now() + 11_000) };
    const updateOne = jest.spyOn(messages.collection, 'updateOne').mockRejectedValue(new Error('primary stepped down'));
    const record = (deliver as unknown as { record(m: unknown, u: unknown): Promise<boolean> }).record.bind(deliver);
    const startedAt = Date.now();
    await expect(record(message, { $set: { status: 'SENT' } })).rejects.toThrow('primary stepped down');
    const took = Date.now() - startedAt;
    // Retried (100, 200, 400 ms apart: four tries, fewer only on a machine stalled past the second), then given up
    // well before the 11 s the lease has left.
    expect(updateOne.mock.calls.length).toBeGreaterThanOrEqual(2);
    expect(took).toBeGreaterThanOrEqual(100);
    expect(took).toBeLessThan(5_000);
  }, 20_000);
});

describe('an email claimed more times than it may be attempted', () => {
  /** DeliverEmail with 3 attempts, what it reads before the SMTP exchange as given (`directory`, `digests`). */
  function limitedTo3(parts: { send?: jest.Mock; directory?: Partial<RecipientDirectory>; digests?: Partial<InvitationDigests> } = {}) {
    const outbox = { event: jest.fn((topic: string, event: { type: string }) => ({ eventId: randomUUID(), topic, key: 'p-claims', value: JSON.stringify({ type: event.type }) })), committed: jest.fn() };
    const metrics = { attempts: { inc: jest.fn() }, sendSeconds: { startTimer: () => () => undefined } };
    const deliver = new DeliverEmail(
      messages,
      { send: parts.send ?? jest.fn() } as unknown as Mailer,
      outbox as unknown as EventOutbox,
      (parts.directory ?? { currentAddress: jest.fn(async () => ({ to: { email: 'ann@contoso.example.com' } })) }) as unknown as RecipientDirectory,
      { withdrawal: jest.fn(async () => null) } as unknown as InvitationProgressRepository,
      { check: jest.fn(async () => ({ withdrawn: null })) } as unknown as ProfileProgressRepository,
      metrics as unknown as DeliveryMetrics,
      (parts.digests ?? {}) as InvitationDigests,
      {} as HandOverMessages,
      { execute: jest.fn(async () => undefined) } as unknown as RenderAgain,
      { NOTIFY_LEASE_MS: 60_000, NOTIFY_MAX_ATTEMPTS: 3, MAIL_FROM_ADDRESS: 'noreply@contoso.example' } as NotificationConfig,
    );
    return { deliver, outbox };
  }
  const outboxTypes = async (id: string) => ((await stored(id)).outbox as Array<{ value: string }>).map((e) => JSON.parse(e.value).type);

  // Its claims kept ending before the SMTP exchange (an error reading its recipient, bad data): each was taken again
  // once its lease ran out, every minute, for ever, with no NotificationFailed and no dead letter.
  it('is failed at once (the outcome event and the dead letter), not sent', async () => {
    const send = jest.fn();
    const { deliver: limited, outbox } = limitedTo3({ send });
    const id = await insert({ status: 'RETRY', attempts: 3, lastError: 'ECONNRESET' });
    const [claimed] = await limited.claimManyById([id], 3);
    expect(claimed.attempts).toBe(4);
    expect(await limited.execute(claimed)).toEqual({ status: 'FAILED' });
    expect(send).not.toHaveBeenCalled();
    const after = await stored(id);
    expect(after).toMatchObject({ status: 'FAILED', lastError: expect.stringMatching(/its 3 attempts were used up without an outcome \(last error: ECONNRESET\)/) });
    // In the same write: NotificationFailed and the email's dead letter.
    expect(await outboxTypes(id)).toEqual(['NotificationFailed', 'EmailDeadLettered']);
    // Each tells of the 3 attempts made (the claims before this one), not of this claim, which made none.
    expect(outbox.event.mock.calls.map(([, event]) => [event.type, (event as unknown as { data: { attempts: number } }).data.attempts])).toEqual([
      ['NotificationFailed', 3],
      ['EmailDeadLettered', 3],
    ]);
  });

  // The cap was checked after what is read before the SMTP exchange: a read or a render failing on every claim (a
  // template of NOTIFY_TEMPLATES_DIR calling a helper that does not exist) kept the email claimed every lease, for ever.
  it('is failed too when what comes before the SMTP exchange fails on every claim, a digest without its emails (the sweep sends them by themselves)', async () => {
    const compose = jest.fn(async () => {
      throw new Error('Missing helper: "fmt"');
    });
    const { deliver: limited } = limitedTo3({ digests: { compose } as never });
    // Within its attempts, the error is the claim's (the lease runs out, the email is claimed again).
    const early = await insert({ template: 'invitation-digest', status: 'RETRY', attempts: 2 });
    const [first] = await limited.claimManyById([early], 2);
    await expect(limited.execute(first)).rejects.toThrow('Missing helper');
    expect(await stored(early)).toMatchObject({ status: 'SENDING', attempts: 3 });

    const id = await insert({ template: 'invitation-digest', status: 'RETRY', attempts: 3 });
    const [claimed] = await limited.claimManyById([id], 3);
    expect(await limited.execute(claimed)).toEqual({ status: 'FAILED' });
    expect(await stored(id)).toMatchObject({ status: 'FAILED', lastError: expect.stringMatching(/its 3 attempts were used up without an outcome \(last error: Missing helper: "fmt"\)/) });
    // The digest's dead letter; no outcome of its own (its emails, not read, are released by the sweep to go alone).
    expect(await outboxTypes(id)).toEqual(['EmailDeadLettered']);

    // Not a digest: its NotificationFailed as well.
    const { deliver: failing } = limitedTo3({ directory: { currentAddress: jest.fn(async () => Promise.reject(new Error('recipient view unreadable'))) } as never });
    const single = await insert({ status: 'RETRY', attempts: 3 });
    const [one] = await failing.claimManyById([single], 3);
    expect(await failing.execute(one)).toEqual({ status: 'FAILED' });
    expect(await outboxTypes(single)).toEqual(['NotificationFailed', 'EmailDeadLettered']);
  });
});

