/**
 * The `_id`-led lookup indexes (IdLookupIndexes) on the local server: created by default (it has no query planner),
 * and with MONGO_ID_LOOKUP_INDEXES=never (what `auto` decides on MongoDB itself) not created, and dropped where an
 * earlier start created them, while the schema's other indexes stay and guarded writes still find their documents.
 */
import { PlatformModule } from '@lib/platform';
import { bootService, TestIssuer, uniqueName } from '@lib/testing';
import { Module } from '@nestjs/common';
import { MongooseModule, Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { MongoClient } from 'mongodb';

jest.setTimeout(120_000);

@Schema({ collection: 'ledgers', versionKey: false })
class Ledger {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ required: true }) version!: number;
}
const LedgerSchema = SchemaFactory.createForClass(Ledger);
LedgerSchema.index({ partnerId: 1 });
LedgerSchema.index({ _id: 1, version: 1 }, { unique: true });

@Module({ imports: [PlatformModule.forService({ name: 'ledgers' }), MongooseModule.forFeature([{ name: Ledger.name, schema: LedgerSchema }])] })
class LedgersModule {}

const issuer = new TestIssuer();
const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true });

beforeAll(async () => {
  await Promise.all([issuer.start(), mongo.connect()]);
});

afterAll(async () => {
  await mongo.close();
  await issuer.stop();
});

async function indexKeys(db: string): Promise<Array<Record<string, number>>> {
  return (await mongo.db(db).collection('ledgers').indexes()).map((index) => index.key as Record<string, number>);
}

describe('`_id`-led lookup indexes', () => {
  it('are created on a server without a query planner, and not (dropped) where MONGO_ID_LOOKUP_INDEXES says never', async () => {
    const db = uniqueName('ledgers');
    const first = await bootService(LedgersModule, { name: 'ledgers', env: { ...issuer.env(), MONGO_DB: db } });
    try {
      expect(await indexKeys(db)).toEqual(expect.arrayContaining([{ partnerId: 1 }, { _id: 1, version: 1 }]));
      await mongo.db(db).collection<{ _id: string; partnerId: string; version: number }>('ledgers').insertOne({ _id: 'l1', partnerId: 'p1', version: 1 });
    } finally {
      await first.close();
    }

    const second = await bootService(LedgersModule, { name: 'ledgers', env: { ...issuer.env(), MONGO_DB: db, MONGO_ID_LOOKUP_INDEXES: 'never' } });
    try {
      const keys = await indexKeys(db);
      expect(keys).toContainEqual({ partnerId: 1 });
      expect(keys).not.toContainEqual({ _id: 1, version: 1 });
      // A guarded write still finds its document (by the `_id` index).
      const { modifiedCount } = await mongo.db(db).collection<{ _id: string }>('ledgers').updateOne({ _id: 'l1', version: 1 }, { $set: { version: 2 } });
      expect(modifiedCount).toBe(1);
    } finally {
      await second.close();
    }
  });
});
