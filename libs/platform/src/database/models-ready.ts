import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Connection, Model } from 'mongoose';
import { IdLookupIndexes, indexName, isIdLookupIndex } from './id-lookup-indexes';

/**
 * Every mongoose model's collection exists and its indexes are built before the service writes: Nest awaits this
 * (onModuleInit) before the application-bootstrap hooks (outbox relay, schedulers), HTTP and the consumers start.
 * Mongoose would create collections and indexes in the background when a model is compiled; on mongo-java-server (the
 * local server) a write that races the creation of its collection can be lost (measured: 1 in 300 upserts sent next
 * to a createCollection or createIndex of the same new collection vanished, another failed). Real MongoDB does not
 * lose it, and waiting costs one round trip per model at start.
 *
 * Mongoose's own index building is off (`autoIndex: false`): the indexes are the schemas' declared ones, created here,
 * but for the `_id`-led lookup indexes where the server does not need them (IdLookupIndexes), which are dropped there
 * if an earlier version created them.
 */
@Injectable()
export class ModelsReady implements OnModuleInit {
  private readonly logger = new Logger(ModelsReady.name);

  constructor(
    @InjectConnection() private readonly connection: Connection,
    private readonly lookups: IdLookupIndexes,
  ) {}

  async onModuleInit(): Promise<void> {
    const names = this.connection.modelNames();
    const models = names.map((name) => this.connection.model(name));
    await Promise.all(models.map((model) => model.init()));
    const lookups = await this.lookups.wanted();
    // One model per collection: two models of one collection declare the same indexes.
    const seen = new Set<string>();
    await Promise.all(models.filter((model) => !seen.has(model.collection.collectionName) && !!seen.add(model.collection.collectionName)).map((model) => this.indexes(model, lookups)));
    this.logger.debug(`collections and indexes ready: ${names.join(', ')}`);
  }

  // Any service's model (its document type is not read here).
  private async indexes(model: Model<any>, lookups: boolean): Promise<void> {
    const declared = model.schema.indexes() as Array<[Record<string, unknown>, Record<string, unknown>]>;
    // Created by mongoose, as its own index building would (its options, collation, write concern), but for these.
    await model.createIndexes({ toCreate: declared.filter(([keys]) => lookups || !isIdLookupIndex(keys)) } as never);
    if (lookups) return;
    for (const [keys] of declared.filter(([keys]) => isIdLookupIndex(keys))) {
      await model.collection.dropIndex(indexName(keys)).catch(() => undefined); // absent: nothing to drop
    }
  }
}
