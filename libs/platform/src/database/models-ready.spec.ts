import type { Connection } from 'mongoose';
import { IdLookupIndexes, isIdLookupIndex, plansQueries } from './id-lookup-indexes';
import { ModelsReady } from './models-ready';

/** A model as ModelsReady reads it: its init, its schema's declared indexes, and what it does to its collection. */
function fakeModel(name: string, indexes: Array<[Record<string, unknown>, Record<string, unknown>]>, calls: string[], init: () => Promise<void> = async () => undefined) {
  return {
    init,
    schema: { indexes: () => indexes },
    createIndexes: async ({ toCreate }: { toCreate: Array<[object, object]> }) => {
      for (const [keys, options] of toCreate) calls.push(`create ${name} ${JSON.stringify(keys)} ${JSON.stringify(options)}`);
    },
    collection: {
      collectionName: name.toLowerCase(),
      dropIndex: async (index: string) => {
        calls.push(`drop ${name} ${index}`);
        throw Object.assign(new Error('index not found'), { codeName: 'IndexNotFound' });
      },
    },
  };
}

const lookups = (wanted: boolean) => ({ wanted: async () => wanted }) as unknown as IdLookupIndexes;

describe('ModelsReady', () => {
  it("holds the service's start until every model's collection and indexes are ready", async () => {
    const inits: Array<() => void> = [];
    const initialised: string[] = [];
    const models = new Map(
      ['Enrollment', 'Program'].map((name) => [
        name,
        fakeModel(name, [], [], () =>
          new Promise<void>((resolve) =>
            inits.push(() => {
              initialised.push(name);
              resolve();
            }),
          ),
        ),
      ]),
    );
    const connection = { modelNames: () => [...models.keys()], model: (name: string) => models.get(name) } as unknown as Connection;
    let ready = false;
    const start = new ModelsReady(connection, lookups(true)).onModuleInit().then(() => (ready = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(inits).toHaveLength(2); // both asked at once
    inits[0]();
    await new Promise((resolve) => setImmediate(resolve));
    expect(ready).toBe(false); // one model still creating its collection
    inits[1]();
    await start;
    expect(ready).toBe(true);
    expect(initialised).toEqual(['Enrollment', 'Program']);
  });

  it('creates the declared indexes with their options; the `_id`-led lookup ones only where the server needs them, else drops them', async () => {
    const indexes: Array<[Record<string, unknown>, Record<string, unknown>]> = [
      [{ partnerId: 1, status: 1 }, {}],
      [{ _id: 1, version: 1 }, { unique: true }],
      [{ externalKey: 1 }, { unique: true, sparse: true }],
    ];
    for (const wanted of [true, false]) {
      const calls: string[] = [];
      const model = fakeModel('Enrollment', indexes, calls);
      const connection = { modelNames: () => ['Enrollment'], model: () => model } as unknown as Connection;
      await new ModelsReady(connection, lookups(wanted)).onModuleInit();
      expect(calls).toEqual(
        wanted
          ? [
              'create Enrollment {"partnerId":1,"status":1} {}',
              'create Enrollment {"_id":1,"version":1} {"unique":true}',
              'create Enrollment {"externalKey":1} {"unique":true,"sparse":true}',
            ]
          : ['create Enrollment {"partnerId":1,"status":1} {}', 'create Enrollment {"externalKey":1} {"unique":true,"sparse":true}', 'drop Enrollment _id_1_version_1'],
      );
    }
  });
});

describe('IdLookupIndexes', () => {
  it('takes a compound index led by `_id` as a lookup index, nothing else', () => {
    expect(isIdLookupIndex({ _id: 1, version: 1 })).toBe(true);
    expect(isIdLookupIndex({ _id: 1, _rev: 1 })).toBe(true);
    expect(isIdLookupIndex({ _id: 1 })).toBe(false);
    expect(isIdLookupIndex({ partnerId: 1, _id: 1 })).toBe(false);
  });

  // buildInfo as each server answers it (trimmed to the fields read, plus a few others).
  const mongodb = { version: '7.0.14', gitVersion: 'ce59cfc6a3c5e5c067dca0d30697edd68d4f5188', allocator: 'tcmalloc', javascriptEngine: 'mozjs', storageEngines: ['devnull', 'wiredTiger'], modules: [], ok: 1 };
  const mongoJavaServer = { version: '3.0.0', versionArray: [3, 0, 0], ok: 1 };
  const ferretdb = { version: '7.0.42', gitVersion: '0a1b2c', modules: [], ferretdbVersion: 'v1.24.0', ok: 1 };

  it('says MongoDB itself plans its queries; mongo-java-server and FerretDB get the lookup indexes', () => {
    expect(plansQueries(mongodb)).toBe(true);
    expect(plansQueries(mongoJavaServer)).toBe(false);
    expect(plansQueries(ferretdb)).toBe(false);
    expect(plansQueries({ ...mongodb, ferretdbVersion: 'v2.0.0' })).toBe(false);
  });

  it('asks the server once under `auto`; `always` and `never` ask nothing', async () => {
    let asked = 0;
    const connection = (answer: object) => ({ db: { admin: () => ({ command: async () => (asked++, answer) }) } }) as unknown as Connection;
    const auto = new IdLookupIndexes(connection(mongodb), { MONGO_ID_LOOKUP_INDEXES: 'auto' });
    expect([await auto.wanted(), await auto.wanted()]).toEqual([false, false]);
    expect(asked).toBe(1);
    expect(await new IdLookupIndexes(connection(mongoJavaServer), { MONGO_ID_LOOKUP_INDEXES: 'auto' }).wanted()).toBe(true);
    expect(await new IdLookupIndexes(connection(mongodb), { MONGO_ID_LOOKUP_INDEXES: 'always' }).wanted()).toBe(true);
    expect(await new IdLookupIndexes(connection(mongoJavaServer), { MONGO_ID_LOOKUP_INDEXES: 'never' }).wanted()).toBe(false);
    expect(asked).toBe(2);
  });

  it('creates them when the server refuses buildInfo (a strict Stable API, a proxy); any other failure fails the start', async () => {
    const failing = (error: Error) => ({ db: { admin: () => ({ command: async () => Promise.reject(error) }) } }) as unknown as Connection;
    const refusal = Object.assign(new Error("Provided apiStrict:true, but the command buildInfo is not in API Version 1"), { code: 323 });
    expect(await new IdLookupIndexes(failing(refusal), { MONGO_ID_LOOKUP_INDEXES: 'auto' }).wanted()).toBe(true);
    const failover = Object.assign(new Error('not primary'), { code: 10107 });
    await expect(new IdLookupIndexes(failing(failover), { MONGO_ID_LOOKUP_INDEXES: 'auto' }).wanted()).rejects.toThrow('not primary');
  });
});
