/**
 * `Idempotency-Key` against the real broker and database: a minimal service on the platform whose one creating
 * endpoint reads a stock document the test controls, so that each kind of answer (created, a business 4xx, a bug,
 * a database error, a validation 400) can be produced, and the condition behind it changed before the retry.
 */
import {
  CONFIG,
  CurrentPrincipal,
  Idempotent,
  IDEMPOTENT_REPLAY_CHECK,
  IdempotentReplayCheck,
  OperatorOnly,
  OptionalIfMatch,
  PlatformConfig,
  PlatformModule,
  Principal,
  Problems,
} from '@lib/platform';
import { bootService, OPERATOR_KEY, RunningService, TestIssuer } from '@lib/testing';
import { fingerprintKey, requestFingerprint } from '../src/http/idempotency-fingerprint';
import { IdempotencyRetention } from '../src/http/idempotency-retention';
import { Body, Controller, HttpException, Module, Post, Res } from '@nestjs/common';
import { getConnectionToken, InjectConnection } from '@nestjs/mongoose';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import type { Response } from 'express';
import { Collection, Db, MongoClient } from 'mongodb';
import { Connection } from 'mongoose';
import { createHash, randomUUID } from 'node:crypto';

jest.setTimeout(120_000);

interface Stock {
  _id: string;
  available: number;
  /** A number unless a test breaks it: `$inc` on anything else fails in the database. */
  reserved: number;
  /** Makes the endpoint fail: an HTTP status it throws, 'busy' for a momentary conflict, or 'bug' for a plain Error. */
  fail?: number | 'bug' | 'busy';
  /** Makes the endpoint take this long before it writes anything. */
  delayMs?: number;
}

class OrderInput {
  @IsString() sku!: string;
  @IsInt() @Min(1) quantity!: number;
  /** Characters of filler in the answer: a large answer takes the database a while to store. */
  @IsOptional() @IsInt() @Max(8_000_000) filler?: number;
}

@Controller('v1/orders')
class OrdersController {
  constructor(@InjectConnection() private readonly connection: Connection) {}

  @OperatorOnly()
  @Post()
  @Idempotent()
  // If-Match taken as Enroll takes it (a version when there is one, as a condition of the request), unchecked here:
  // what matters is that it is part of the request a retry must repeat.
  async create(@Body() input: OrderInput, @OptionalIfMatch() _expected: number | undefined, @Res({ passthrough: true }) res: Response) {
    const stock = this.connection.collection<Stock>('stock');
    const item = await stock.findOne({ _id: input.sku });
    if (!item) throw Problems.notFound(`SKU ${input.sku}`);
    if (item.delayMs) await new Promise((resolve) => setTimeout(resolve, item.delayMs));
    if (item.fail === 'bug') throw new Error('a bug');
    if (item.fail === 'busy') throw Problems.busy('The stock kept changing; try again.');
    if (item.fail) throw new HttpException('failed on purpose', item.fail);
    if (item.available < input.quantity) throw Problems.unprocessable('Not enough stock.', { available: item.available });
    await stock.updateOne({ _id: input.sku }, { $inc: { reserved: input.quantity } });
    const orderId = randomUUID();
    const { filler, ...order } = input;
    await this.connection.collection('orders').insertOne({ _id: orderId as never, ...order });
    res.setHeader('Location', `/v1/orders/${orderId}`);
    // `cancelledAt` left undefined: absent from the JSON answer, and from its replay.
    return { orderId, ...order, cancelledAt: undefined, ...(filler && { filler: 'x'.repeat(filler) }) };
  }
}

class NoteInput {
  @IsString() text!: string;
}

/** A creating endpoint for signed-in users: a note per request. */
@Controller('v1/notes')
class NotesController {
  constructor(@InjectConnection() private readonly connection: Connection) {}

  @Post()
  @Idempotent()
  async create(@CurrentPrincipal() principal: Principal, @Body() input: NoteInput) {
    const noteId = randomUUID();
    await this.connection.collection('notes').insertOne({ _id: noteId as never, userId: principal.userId, text: input.text });
    return { noteId, text: input.text };
  }
}

/** The users the service's replay check refuses (as a deactivated user is refused), and every user it was asked about. */
const deactivated = new Set<string>();
const checked: string[] = [];
const replayCheck: IdempotentReplayCheck = async (principal) => {
  checked.push(principal.userId);
  if (deactivated.has(principal.userId)) throw Problems.forbidden('Your account is deactivated.');
};

@Module({
  imports: [PlatformModule.forService({ name: 'idempotency' })],
  controllers: [OrdersController, NotesController],
  providers: [{ provide: IDEMPOTENT_REPLAY_CHECK, useValue: replayCheck }],
})
class OrdersAppModule {}

const issuer = new TestIssuer();
const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true });
let service: RunningService;
let db: Db;

beforeAll(async () => {
  await issuer.start();
  await mongo.connect();
  service = await bootService(OrdersAppModule, { name: 'idempotency', env: issuer.env() });
  db = mongo.db(service.env.MONGO_DB);
}, 180_000);

afterAll(async () => {
  await service?.close();
  await mongo.close();
  await issuer.stop();
});

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

interface SendOptions {
  operator?: boolean;
  headers?: Record<string, string>;
}

/** The response as soon as its status line and headers are in; a string body is sent as it is. */
function send(body: unknown, key: string, { operator = true, headers = {} }: SendOptions = {}): Promise<globalThis.Response> {
  return fetch(`${service.url}/v1/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key, ...(operator && { 'x-operator-key': OPERATOR_KEY }), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function order(body: unknown, key: string, options: SendOptions = {}): Promise<Answer & { text: string }> {
  const response = await send(body, key, options);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers, text };
}

async function stock(fields: Partial<Stock> = {}): Promise<string> {
  const sku = `sku-${randomUUID()}`;
  await db.collection<Stock>('stock').insertOne({ _id: sku, available: 100, reserved: 0, ...fields });
  return sku;
}

const orders = (sku: string) => db.collection('orders').countDocuments({ sku });
const answers = () => db.collection<Record<string, unknown> & { _id: string }>('idempotency_keys');
const replayed = (answer: Answer) => answer.headers.get('idempotent-replayed') === 'true';

/** The stored record of a request: its id and fingerprint, as the interceptor computes them. */
/** Once the request under `key` has claimed it (its handler is running): polled, for at most 10 s. */
async function claimOf(key: string): Promise<void> {
  const since = Date.now();
  while (!(await answers().findOne({ _id: `operator|POST /v1/orders|${key}` }))) {
    expect(Date.now() - since).toBeLessThan(10_000);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function record(key: string, body: unknown) {
  const _id = `operator|POST /v1/orders|${key}`;
  const secret = fingerprintKey(service.app.get<PlatformConfig>(CONFIG));
  return {
    _id,
    requestHmacV2: requestFingerprint(secret, _id, { params: {}, body }),
    requestHmac: requestFingerprint(secret, _id, { params: {}, body }, 1),
  };
}

/** A record as answers were stored before fingerprints were keyed: a plain SHA-256 of the request. */
function legacyRecord(key: string, body: unknown) {
  return {
    _id: `operator|POST /v1/orders|${key}`,
    requestHash: createHash('sha256').update(JSON.stringify({ params: {}, body })).digest('base64url'),
  };
}

describe('a retried request gets the first answer', () => {
  it('replays a created answer with its headers, and a different request under the same key is refused', async () => {
    const sku = await stock();
    const key = randomUUID();
    const first = await order({ sku, quantity: 1 }, key);
    const second = await order({ sku, quantity: 1 }, key);
    expect(first.status).toBe(201);
    expect(second).toMatchObject({ status: 201, body: first.body });
    expect(second.headers.get('location')).toBe(first.headers.get('location'));
    expect([replayed(first), replayed(second)]).toEqual([false, true]);
    // The ids of the request that made it (those its events and log lines carry), not the retry's, which made nothing.
    for (const name of ['x-request-id', 'x-correlation-id']) expect(second.headers.get(name)).toBe(first.headers.get(name));
    expect(first.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect((await order({ sku, quantity: 2 }, key)).body.type).toMatch(/idempotency-key-reused$/);
    expect(await orders(sku)).toBe(1);
    // The guard of lease holders' writes is an index lookup on mongo-java-server too (exactly its keys).
    expect(await answers().indexes()).toContainEqual(expect.objectContaining({ key: { _id: 1, leaseToken: 1 }, unique: true }));
  });

  it('replays the first answer to a retry sent the moment the first answer arrived', async () => {
    // The retry leaves as soon as the first answer's status line is in, while a large answer is still being stored
    // (when storing it is not awaited); repeated to make that race likely.
    const rounds = 20;
    const sku = await stock({ available: rounds });
    for (let i = 0; i < rounds; i++) {
      const key = randomUUID();
      const body = { sku, quantity: 1, filler: 2_000_000 };
      const first = await send(body, key);
      const retry = await order(body, key);
      expect(first.status).toBe(201);
      const firstOrderId = ((await first.json()) as { orderId: string }).orderId;
      expect({ status: retry.status, orderId: retry.body.orderId, replayed: replayed(retry) }).toEqual({ status: 201, orderId: firstOrderId, replayed: true });
    }
    expect(await orders(sku)).toBe(rounds);
  });
});

describe('a claim left pending', () => {
  it('is taken over once its lease ran out: the retry runs and gets a real answer', async () => {
    const sku = await stock();
    const key = randomUUID();
    const body = { sku, quantity: 1 };
    const minuteAgo = new Date(Date.now() - 61_000);
    await answers().insertOne({ ...record(key, body), state: 'pending', leaseToken: 'crashed', leaseUntil: new Date(Date.now() - 1_000), createdAt: minuteAgo });

    // Another request under the key does not take it over: the key still belongs to the first one.
    expect((await order({ sku, quantity: 2 }, key)).body.type).toMatch(/idempotency-key-reused$/);
    const retry = await order(body, key);
    expect(retry.status).toBe(201);
    expect(replayed(retry)).toBe(false);
    // Dated from the retry that took it over: its retention counts from this answer.
    const stored = await answers().findOne({ _id: record(key, body)._id });
    expect(stored).toMatchObject({ state: 'done', status: 201, body: retry.body });
    expect((stored!.createdAt as Date).getTime()).toBeGreaterThan(minuteAgo.getTime() + 60_000);
    expect(await order(body, key)).toMatchObject({ status: 201, body: retry.body });
    expect(await orders(sku)).toBe(1);
  });

  it('still answers 409 while its lease runs, with Retry-After and when a retry would take it over', async () => {
    const sku = await stock();
    const key = randomUUID();
    const body = { sku, quantity: 1 };
    const pending = { ...record(key, body), state: 'pending', leaseToken: 'busy', leaseUntil: new Date(Date.now() + 60_000), createdAt: new Date() };
    await answers().insertOne(pending);

    const retry = await order(body, key);
    expect(retry.status).toBe(409);
    expect(retry.body.type).toMatch(/request-in-progress$/);
    expect(retry.headers.get('retry-after')).toBe('1');
    expect(retry.body.detail).toContain(pending.leaseUntil.toISOString());
    expect(await answers().findOne({ _id: pending._id })).toEqual(pending);
    expect(await orders(sku)).toBe(0);
  });

  it('written before leases existed (no lease fields) expires with the default lease from its creation', async () => {
    const sku = await stock();
    const [stale, fresh] = [randomUUID(), randomUUID()];
    const body = { sku, quantity: 1 };
    await answers().insertOne({ ...record(stale, body), state: 'pending', createdAt: new Date(Date.now() - 61_000) });
    await answers().insertOne({ ...record(fresh, body), state: 'pending', createdAt: new Date() });
    expect((await order(body, stale)).status).toBe(201);
    expect((await order(body, fresh)).status).toBe(409);
    expect(await orders(sku)).toBe(1);
  });

  it('is taken over by one of several concurrent retries only', async () => {
    const sku = await stock();
    const key = randomUUID();
    const body = { sku, quantity: 1 };
    await answers().insertOne({ ...record(key, body), state: 'pending', leaseToken: 'crashed', leaseUntil: new Date(Date.now() - 1_000), createdAt: new Date(Date.now() - 61_000) });

    const retries = await Promise.all(Array.from({ length: 8 }, () => order(body, key)));
    const ran = retries.filter((r) => r.status === 201 && !replayed(r));
    expect(ran).toHaveLength(1);
    for (const other of retries.filter((r) => r !== ran[0])) {
      expect(other.status === 409 || (other.status === 201 && replayed(other) && other.body.orderId === ran[0].body.orderId)).toBe(true);
    }
    expect(await orders(sku)).toBe(1);
  });
});

describe('a stored answer is sent again only to a caller the service still answers', () => {
  async function note(token: string, text: string, key: string): Promise<Answer> {
    const response = await fetch(`${service.url}/v1/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key, authorization: `Bearer ${token}` },
      body: JSON.stringify({ text }),
    });
    return { status: response.status, body: await response.json(), headers: response.headers };
  }
  const notes = (userId: string) => db.collection('notes').countDocuments({ userId });

  it('asks the replay check before replaying: a user deactivated since gets its 403, not the stored 201', async () => {
    const userId = `user-${randomUUID()}`;
    const token = await issuer.token({ sub: userId, partnerId: 'partner-1' });
    const key = randomUUID();
    const first = await note(token, 'hello', key);
    expect([first.status, replayed(first)]).toEqual([201, false]);
    expect(checked).not.toContain(userId);
    const retry = await note(token, 'hello', key);
    expect([retry.status, replayed(retry), retry.body]).toEqual([201, true, first.body]);
    expect(checked).toContain(userId);

    deactivated.add(userId);
    for (const text of ['hello', 'another request under the key']) {
      const refused = await note(token, text, key);
      expect(refused.status).toBe(403);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refused.body.detail).toMatch(/deactivated/);
      expect(replayed(refused)).toBe(false);
    }
    expect(await notes(userId)).toBe(1);
    // The stored answer stays: nothing under the key was released or changed.
    expect(await answers().findOne({ _id: `${userId}|POST /v1/notes|${key}` })).toMatchObject({ state: 'done', status: 201, body: first.body });
  });

  it('does not ask it for operator requests (no user): they replay as before', async () => {
    const sku = await stock();
    const key = randomUUID();
    const first = await order({ sku, quantity: 1 }, key);
    const asked = checked.length;
    const retry = await order({ sku, quantity: 1 }, key);
    expect([retry.status, replayed(retry), retry.body]).toEqual([201, true, first.body]);
    expect(checked).toHaveLength(asked);
  });
});

describe('which failures are stored', () => {
  it('replays a business 422 after the condition changed', async () => {
    const sku = await stock({ available: 1 });
    const key422 = randomUUID();
    const short = await order({ sku, quantity: 5 }, key422);
    expect(short).toMatchObject({ status: 422, body: { available: 1 } });
    await db.collection<Stock>('stock').updateOne({ _id: sku }, { $set: { available: 100 } });
    const again422 = await order({ sku, quantity: 5 }, key422);
    expect(again422).toMatchObject({ status: 422, body: short.body });
    expect(again422.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(replayed(again422)).toBe(true);
    expect(again422.headers.get('x-request-id')).toBe(short.headers.get('x-request-id'));
    // Still the first request's key: a different request under it is refused.
    expect((await order({ sku, quantity: 6 }, key422)).body.type).toMatch(/idempotency-key-reused$/);
    expect(await orders(sku)).toBe(0);
  });

  it('runs a 404 again: what was missing (a location, a role in a view) may have arrived since', async () => {
    const missing = `sku-${randomUUID()}`;
    const key = randomUUID();
    expect((await order({ sku: missing, quantity: 1 }, key)).status).toBe(404);
    await db.collection<Stock>('stock').insertOne({ _id: missing, available: 100, reserved: 0 });
    const retry = await order({ sku: missing, quantity: 1 }, key);
    expect(retry.status).toBe(201);
    expect(replayed(retry)).toBe(false);
    expect(await orders(missing)).toBe(1);
  });

  it.each([
    ['a bug (500)', { fail: 'bug' as const }, 500],
    ['a database error (500)', { reserved: 'not a number' as never }, 500],
    ['503', { fail: 503 }, 503],
    ['429', { fail: 429 }, 429],
    ['a momentary conflict (409 "try again")', { fail: 'busy' as const }, 409],
  ])('stores nothing for %s: the retry runs again once the cause is gone', async (_, broken: Partial<Stock>, status: number) => {
    const sku = await stock(broken);
    const key = randomUUID();
    const first = await order({ sku, quantity: 1 }, key);
    expect(first.status).toBe(status);
    expect(await answers().findOne({ _id: record(key, { sku, quantity: 1 })._id })).toBeNull();
    await db.collection<Stock>('stock').updateOne({ _id: sku }, { $set: { reserved: 0 }, $unset: { fail: '' } });
    const retry = await order({ sku, quantity: 1 }, key);
    expect(retry.status).toBe(201);
    expect(replayed(retry)).toBe(false);
    expect(await orders(sku)).toBe(1);
  });

  it('gives the key up in the background when the database refused its release: the retry runs within seconds, not after the lease', async () => {
    const sku = await stock({ fail: 503 });
    const key = randomUUID();
    const { _id } = record(key, { sku, quantity: 1 });
    // The release's delete fails twice (the database still down as the 503 leaves), then passes.
    const original = Collection.prototype.deleteOne;
    let refused = 0;
    const spy = jest.spyOn(Collection.prototype, 'deleteOne').mockImplementation(function (this: Collection, filter: unknown, ...rest: unknown[]) {
      if (this.collectionName === 'idempotency_keys' && (filter as { _id?: string })?._id === _id && refused < 2) {
        refused++;
        return Promise.reject(Object.assign(new Error('not primary'), { name: 'MongoServerError', code: 10107 }));
      }
      return (original as (...args: unknown[]) => unknown).call(this, filter, ...rest) as never;
    });
    try {
      expect((await order({ sku, quantity: 1 }, key)).status).toBe(503);
      await db.collection<Stock>('stock').updateOne({ _id: sku }, { $unset: { fail: '' } });
      const since = Date.now();
      while (await answers().findOne({ _id })) {
        expect(Date.now() - since).toBeLessThan(10_000); // the lease is the default 60 s
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      spy.mockRestore();
    }
    expect(refused).toBe(2);
    const retry = await order({ sku, quantity: 1 }, key);
    expect(retry.status).toBe(201);
    expect(await orders(sku)).toBe(1);
  });

  it('stores nothing for a request rejected before the handler ran (validation 400, auth 401)', async () => {
    const sku = await stock();
    const key = randomUUID();
    const invalid = await order({ sku, quantity: 0 }, key);
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors).toEqual([expect.objectContaining({ field: 'quantity' })]);
    expect((await order({ sku, quantity: 1 }, key, { operator: false })).status).toBe(401);
    // Under no caller's keys (the 401 would be stored as `anonymous`, which the operator's retry below never reads).
    expect(await answers().find({ _id: { $in: ['anonymous', 'operator'].map((caller) => `${caller}|POST /v1/orders|${key}`) } }).toArray()).toEqual([]);
    const corrected = await order({ sku, quantity: 1 }, key);
    expect(corrected.status).toBe(201);
    expect(replayed(corrected)).toBe(false);
    expect(await orders(sku)).toBe(1);
  });
});

describe('stored answers are kept for the retention period', () => {
  it('removes the answers stored before it (a retry then runs again), and keeps the newer ones', async () => {
    const sku = await stock();
    const [oldKey, newKey] = [randomUUID(), randomUUID()];
    expect((await order({ sku, quantity: 1 }, oldKey)).status).toBe(201);
    expect((await order({ sku, quantity: 1 }, newKey)).status).toBe(201);
    const day = 24 * 3_600_000;
    await answers().updateOne({ _id: record(oldKey, { sku, quantity: 1 })._id }, { $set: { createdAt: new Date(Date.now() - day - 60_000) } });

    const removed = await service.app.get(IdempotencyRetention).removeExpired();
    expect(removed).toBeGreaterThanOrEqual(1);
    expect(await answers().countDocuments({ _id: record(oldKey, { sku, quantity: 1 })._id })).toBe(0);
    expect(await answers().countDocuments({ _id: record(newKey, { sku, quantity: 1 })._id })).toBe(1);

    const late = await order({ sku, quantity: 1 }, oldKey);
    expect([late.status, replayed(late)]).toEqual([201, false]);
    const replay = await order({ sku, quantity: 1 }, newKey);
    expect([replay.status, replayed(replay)]).toEqual([201, true]);
    expect(await orders(sku)).toBe(3);
  });

  it('leaves a claim past the retention alone while its request still holds it; removes it once its lease has ended', async () => {
    const sku = await stock();
    const day = 24 * 3_600_000;
    const [held, dead] = [randomUUID(), randomUUID()].map((key) => record(key, { sku, quantity: 1 }));
    const old = new Date(Date.now() - day - 60_000);
    await answers().insertOne({ ...held, state: 'pending', leaseToken: 'running', leaseUntil: new Date(Date.now() + 30_000), createdAt: old });
    await answers().insertOne({ ...dead, state: 'pending', leaseToken: 'crashed', leaseUntil: new Date(Date.now() - 1_000), createdAt: old });

    await service.app.get(IdempotencyRetention).removeExpired();
    expect(await answers().countDocuments({ _id: held._id })).toBe(1);
    expect(await answers().countDocuments({ _id: dead._id })).toBe(0);
  });

  it('an answer past the retention is not replayed even before the hourly removal reaches it: the retry runs again', async () => {
    const sku = await stock();
    const key = randomUUID();
    const first = await order({ sku, quantity: 1 }, key);
    expect(first.status).toBe(201);
    const day = 24 * 3_600_000;
    await answers().updateOne({ _id: record(key, { sku, quantity: 1 })._id }, { $set: { createdAt: new Date(Date.now() - day - 60_000) } });

    const late = await order({ sku, quantity: 1 }, key);
    expect([late.status, replayed(late)]).toEqual([201, false]);
    expect(late.body.orderId).not.toBe(first.body.orderId);
    // Stored anew: the next retry gets this answer.
    const again = await order({ sku, quantity: 1 }, key);
    expect([again.status, replayed(again), again.body.orderId]).toEqual([201, true, late.body.orderId]);
    expect(await orders(sku)).toBe(2);
  });
});

describe('a bad Idempotency-Key', () => {
  it.each([
    ['empty', ''],
    ['with a space', 'a key'],
    ['longer than 200 characters', 'k'.repeat(201)],
  ])('answers 400 with a field list naming the header (%s), like a bad If-Match, and stores nothing', async (_, key) => {
    const sku = await stock();
    const answer = await order({ sku, quantity: 1 }, key);
    expect(answer.status).toBe(400);
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(answer.body).toMatchObject({ status: 400, errors: [{ field: 'Idempotency-Key', message: expect.stringMatching(/1 to 200 visible ASCII characters/) }] });
    expect(await orders(sku)).toBe(0);
    expect(await answers().countDocuments({ _id: record(key, { sku, quantity: 1 })._id })).toBe(0);
  });
});

describe('the stored request fingerprint', () => {
  /** Every digest of the request someone with the database could recompute from a guessed body. */
  const plainDigests = (body: unknown) => {
    const inputs = [JSON.stringify({ params: {}, body }), JSON.stringify(body)];
    return inputs.flatMap((input) => (['base64url', 'base64', 'hex'] as const).map((encoding) => createHash('sha256').update(input).digest(encoding)));
  };

  it('is keyed (not a plain SHA-256 of the body anyone can recompute), and a retry still matches it', async () => {
    const sku = await stock();
    const key = randomUUID();
    // A body with a small secret in it (a US TIN is 9 digits): a plain hash beside the answer gives it away offline.
    const body = { sku, quantity: 1 };
    const first = await order(body, key);
    expect(first.status).toBe(201);
    const stored = await answers().findOne({ _id: record(key, body)._id });
    expect(stored).not.toBeNull();
    const text = JSON.stringify(stored);
    for (const digest of plainDigests(body)) expect(text).not.toContain(digest);
    expect(stored).toMatchObject({ requestHmacV2: record(key, body).requestHmacV2, requestHmac: record(key, body).requestHmac });
    expect(stored).not.toHaveProperty('requestHash');

    const retry = await order(body, key);
    expect([retry.status, replayed(retry), retry.body.orderId]).toEqual([201, true, first.body.orderId]);
    expect((await order({ sku, quantity: 2 }, key)).body.type).toMatch(/idempotency-key-reused$/);
    expect(await orders(sku)).toBe(1);
  });

  it('differs between two keys of the same request, so equal bodies cannot be told apart in the database', async () => {
    const sku = await stock();
    const body = { sku, quantity: 1 };
    const [a, b] = [randomUUID(), randomUUID()];
    expect((await order(body, a)).status).toBe(201);
    expect((await order(body, b)).status).toBe(201);
    const [first, second] = await Promise.all([a, b].map((key) => answers().findOne({ _id: record(key, body)._id })));
    const fingerprint = (doc: Record<string, unknown> | null) => Object.entries(doc ?? {}).filter(([name]) => /hash|fingerprint|hmac/i.test(name));
    expect(fingerprint(first).map(([name]) => name).sort()).toEqual(['requestHmac', 'requestHmacV2']);
    for (const [name, value] of fingerprint(first)) expect([name, second?.[name]]).not.toEqual([name, value]);
  });
});

describe('answers stored before fingerprints were keyed (plain requestHash)', () => {
  it('still replay to their retry after the upgrade (no 422), and still refuse another request, until retention removes them', async () => {
    const sku = await stock();
    const key = randomUUID();
    const body = { sku, quantity: 1 };
    const earlier = { orderId: randomUUID(), ...body };
    await answers().insertOne({ ...legacyRecord(key, body), state: 'done', status: 201, body: earlier, headers: {}, createdAt: new Date() });

    const retry = await order(body, key);
    expect([retry.status, replayed(retry), retry.body]).toEqual([201, true, earlier]);
    expect((await order({ sku, quantity: 2 }, key)).body.type).toMatch(/idempotency-key-reused$/);
    expect(await orders(sku)).toBe(0);
  });

  it('a pending one taken over after its lease is re-fingerprinted: the plain hash is dropped', async () => {
    const sku = await stock();
    const key = randomUUID();
    const body = { sku, quantity: 1 };
    await answers().insertOne({ ...legacyRecord(key, body), state: 'pending', leaseToken: 'crashed', leaseUntil: new Date(Date.now() - 1_000), createdAt: new Date(Date.now() - 61_000) });

    const retry = await order(body, key);
    expect([retry.status, replayed(retry)]).toEqual([201, false]);
    const stored = await answers().findOne({ _id: record(key, body)._id });
    expect(stored).toMatchObject({ state: 'done', requestHmacV2: record(key, body).requestHmacV2, requestHmac: record(key, body).requestHmac });
    expect(stored).not.toHaveProperty('requestHash');
    expect(await order(body, key)).toMatchObject({ status: 201, body: retry.body });
  });
});

// During a rolling upgrade: an older replica's claim (no lease token), its lease over, read as pending by a retry on a
// new replica; the older replica finishes before the retry's takeover. A finished record has no token either: the
// takeover must not match it (the request ran twice, and its first answer was lost).
describe('a claim without a lease token, finished between a retry reading it and taking it over', () => {
  it('is not taken over: the retry replays its answer, and the request does not run again', async () => {
    const sku = await stock();
    const key = randomUUID();
    const body = { sku, quantity: 1 };
    const earlier = { orderId: randomUUID(), ...body };
    const { _id } = record(key, body);
    await answers().insertOne({ ...record(key, body), state: 'pending', leaseUntil: new Date(Date.now() - 1_000), createdAt: new Date(Date.now() - 61_000) });
    const collection = service.app.get<Connection>(getConnectionToken()).collection('idempotency_keys');
    const findOne = collection.findOne.bind(collection);
    const spy = jest.spyOn(collection, 'findOne').mockImplementationOnce((async (...args: Parameters<typeof findOne>) => {
      const read = await findOne(...args);
      // The older replica's request ends now: its answer stored, no token (it never had one), nothing pending.
      await answers().updateOne({ _id }, { $set: { state: 'done', status: 201, body: earlier, headers: {} }, $unset: { leaseUntil: '' } });
      return read;
    }) as never);
    try {
      const retry = await order(body, key);
      expect([retry.status, replayed(retry), retry.body]).toEqual([201, true, earlier]);
      expect(await orders(sku)).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });
});

// A request running longer than its lease (a large import, a slow database) is not taken over by a retry while it
// runs: it renews its claim. Before, the retry took the key once the lease ended and ran the request a second time.
describe('a request running longer than the lease', () => {
  let slow: RunningService;
  beforeAll(async () => {
    slow = await bootService(OrdersAppModule, { name: 'idempotency', env: { ...issuer.env(), IDEMPOTENCY_LEASE_MS: '1500', MONGO_DB: service.env.MONGO_DB } });
  }, 180_000);
  afterAll(() => slow?.close());

  it('keeps its key: a retry meanwhile answers 409, one after it gets its answer; it runs once', async () => {
    const sku = await stock({ delayMs: 5_000 });
    const key = randomUUID();
    const post = (): Promise<Answer> =>
      fetch(`${slow.url}/v1/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key, 'x-operator-key': OPERATOR_KEY }, body: JSON.stringify({ sku, quantity: 1 }) }).then(
        async (response) => ({ status: response.status, body: await response.json(), headers: response.headers }),
      );
    const first = post();
    // The first request has claimed its key (and runs for 5 s): the retry comes when that claim's first lease
    // (1.5 s, renewed every 0.5 s: a loaded machine's pause of a second does not lose it) has long ended, so only a
    // renewed lease keeps the key.
    await claimOf(key);
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // twice the lease
    const meanwhile = await post();
    expect(meanwhile.status).toBe(409);
    expect(meanwhile.body.type).toMatch(/request-in-progress$/);
    const answered = await first;
    expect(answered.status).toBe(201);
    const after = await post();
    expect([after.status, replayed(after), after.body.orderId]).toEqual([201, true, answered.body.orderId]);
    expect(await orders(sku)).toBe(1);
  }, 60_000);
});

describe('what makes a retry the same request', () => {
  it('the same JSON with its fields in another order is the same request: it replays', async () => {
    const sku = await stock();
    const key = randomUUID();
    const first = await order(`{"sku":"${sku}","quantity":2}`, key);
    expect(first.status).toBe(201);
    const retry = await order(`{"quantity":2,"sku":"${sku}"}`, key);
    expect([retry.status, replayed(retry), retry.body.orderId]).toEqual([201, true, first.body.orderId]);
    expect(await orders(sku)).toBe(1);
  });

  it('another If-Match under the same key is another request (422); the same If-Match replays', async () => {
    const sku = await stock();
    const key = randomUUID();
    const body = { sku, quantity: 1 };
    const first = await order(body, key, { headers: { 'if-match': '"3"' } });
    expect(first.status).toBe(201);
    // A client that corrected its precondition sends a new request, not a retry of the first.
    const corrected = await order(body, key, { headers: { 'if-match': '"5"' } });
    expect([corrected.status, corrected.body.type]).toEqual([422, expect.stringMatching(/idempotency-key-reused$/)]);
    expect((await order(body, key)).status).toBe(422);
    const retry = await order(body, key, { headers: { 'if-match': '"3"' } });
    expect([retry.status, replayed(retry), retry.body.orderId]).toEqual([201, true, first.body.orderId]);
    expect(await orders(sku)).toBe(1);
  });

  it('a replay is the first answer as it was sent: a field left undefined stays absent (not null)', async () => {
    const sku = await stock();
    const key = randomUUID();
    const first = await order({ sku, quantity: 1 }, key);
    expect(first.status).toBe(201);
    expect(first.body).not.toHaveProperty('cancelledAt');
    const retry = await order({ sku, quantity: 1 }, key);
    expect(replayed(retry)).toBe(true);
    expect(retry.text).toBe(first.text);
  });

  it('the same precondition written as 3 or "3" is the same request', async () => {
    const sku = await stock();
    const key = randomUUID();
    const first = await order({ sku, quantity: 1 }, key, { headers: { 'if-match': '"3"' } });
    const retry = await order({ sku, quantity: 1 }, key, { headers: { 'if-match': '3' } });
    expect([retry.status, replayed(retry), retry.body.orderId]).toEqual([201, true, first.body.orderId]);
  });

  it('a record keeps the version-1 fingerprint too, which a replica of the version before compares (a rolling upgrade)', async () => {
    const sku = await stock();
    const key = randomUUID();
    const body = { sku, quantity: 1 };
    expect((await order(body, key)).status).toBe(201);
    const stored = await answers().findOne({ _id: record(key, body)._id });
    // What the version before computes for the same request, and compares with requestHmac.
    expect(stored?.requestHmac).toBe(requestFingerprint(fingerprintKey(service.app.get<PlatformConfig>(CONFIG)), record(key, body)._id, { params: {}, body }, 1));
  });

  it('an answer fingerprinted before If-Match and field order counted (version 1) still replays to its retry', async () => {
    const sku = await stock();
    const key = randomUUID();
    const body = { sku, quantity: 1 };
    const { _id } = record(key, body);
    const v1 = requestFingerprint(fingerprintKey(service.app.get<PlatformConfig>(CONFIG)), _id, { params: {}, body }, 1);
    const earlier = { orderId: randomUUID(), ...body };
    await answers().insertOne({ _id, requestHmac: v1, state: 'done', status: 201, body: earlier, headers: {}, createdAt: new Date() });

    const retry = await order(body, key);
    expect([retry.status, replayed(retry), retry.body]).toEqual([201, true, earlier]);
    expect((await order({ sku, quantity: 2 }, key)).body.type).toMatch(/idempotency-key-reused$/);
    expect(await orders(sku)).toBe(0);
  });
});

// Proxies in front of a service (ingress-nginx, cloud load balancers) keep idle upstream connections about 60 s: one the
// service closed first, reused by the proxy at that moment, fails its request with a 502 nobody here sees.
describe('idle keep-alive connections (any service: startServiceApp)', () => {
  it('are kept longer than the 5 s Node keeps them by default: a request after 6 s idle reuses the connection', async () => {
    const { Agent, request } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = request(`${service.url}/health/live`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, reused: req.reusedSocket }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      expect(await get()).toEqual({ status: 200, reused: false });
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      expect(await get()).toEqual({ status: 200, reused: true });
    } finally {
      agent.destroy();
    }
    const server = service.app.getHttpServer() as import('node:http').Server;
    expect(server.headersTimeout).toBeGreaterThan(server.keepAliveTimeout);
  }, 30_000);

  it('do not hold up shutdown: an answer being made as it begins closes its connection, and the service closes at once after', async () => {
    const { Agent, request } = await import('node:http');
    const closing = await bootService(OrdersAppModule, { name: 'idempotency', env: { ...issuer.env(), MONGO_DB: service.env.MONGO_DB } });
    const sku = await stock({ delayMs: 1_500 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const key = randomUUID();
    try {
      const answered = new Promise<{ status: number; connection?: string }>((resolve, reject) => {
        const req = request(`${closing.url}/v1/orders`, { agent, method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key, 'x-operator-key': OPERATOR_KEY } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ sku, quantity: 1 }));
      });
      await claimOf(key); // the request is being handled (for 1.5 s)
      const startedAt = Date.now();
      const closed = closing.close();
      expect(await answered).toEqual({ status: 201, connection: 'close' });
      await closed;
      expect(Date.now() - startedAt).toBeLessThan(10_000); // not the 65 s keep-alive
    } finally {
      agent.destroy();
    }
  }, 60_000);
});
