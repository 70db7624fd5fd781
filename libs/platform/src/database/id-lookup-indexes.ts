import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { CONFIG } from '../config/config';
import type { PlatformConfig } from '../platform.module';

/**
 * An index only a server without a query planner needs: a compound one led by `_id` (`{ _id, version }`,
 * `{ _id, _rev }`, `{ _id, leaseToken }`...). The guarded writes filter on exactly those keys; mongo-java-server (the
 * local server) uses an index only when a filter's keys are exactly its keys, and scans the collection otherwise.
 * MongoDB finds the document by the `_id` index whatever else the filter says: there such an index only costs every
 * write that changes its other key.
 */
export function isIdLookupIndex(keys: Record<string, unknown>): boolean {
  const names = Object.keys(keys);
  return names.length > 1 && names[0] === '_id';
}

/** The name MongoDB gives an index of these keys by default (`_id_1_version_1`): how one is dropped. */
export function indexName(keys: Record<string, unknown>): string {
  return Object.entries(keys)
    .map(([field, direction]) => `${field}_${String(direction)}`)
    .join('_');
}

/**
 * Whether a server is MongoDB itself, with its query planner, by its `buildInfo`: the WiredTiger storage engine, its
 * allocator and JavaScript engine, and none of FerretDB's own fields. A wire-compatible server that answers otherwise
 * (mongo-java-server, FerretDB) gets the lookup indexes: telling MongoDB apart wrongly only costs it writes, telling
 * another server apart wrongly would cost it a scan per guarded write.
 */
export function plansQueries(buildInfo: Record<string, unknown>): boolean {
  if ('ferretdbVersion' in buildInfo || 'ferretdb' in buildInfo) return false;
  const engines = buildInfo.storageEngines;
  return (
    Array.isArray(engines) &&
    engines.includes('wiredTiger') &&
    typeof buildInfo.allocator === 'string' &&
    typeof buildInfo.javascriptEngine === 'string' &&
    typeof buildInfo.gitVersion === 'string'
  );
}

/**
 * Whether this service's database gets the `_id`-led lookup indexes (isIdLookupIndex), as MONGO_ID_LOOKUP_INDEXES
 * says: `always`, `never`, or `auto`, asked of the server once (plansQueries). ModelsReady creates its schemas'
 * indexes by it, and drops such indexes an earlier version created where they are not wanted; the idempotency store
 * creates its own by it.
 */
@Injectable()
export class IdLookupIndexes {
  private readonly logger = new Logger(IdLookupIndexes.name);
  private answer?: Promise<boolean>;

  constructor(
    @InjectConnection() private readonly connection: Connection,
    @Inject(CONFIG) private readonly config: Pick<PlatformConfig, 'MONGO_ID_LOOKUP_INDEXES'>,
  ) {}

  wanted(): Promise<boolean> {
    return (this.answer ??= this.decide());
  }

  private async decide(): Promise<boolean> {
    const setting = this.config.MONGO_ID_LOOKUP_INDEXES;
    if (setting !== 'auto') return setting === 'always';
    let buildInfo: Record<string, unknown>;
    try {
      buildInfo = (await this.connection.db!.admin().command({ buildInfo: 1 })) as Record<string, unknown>;
    } catch (error) {
      // Refused (a proxy that does not know it, a strict Stable API connection, a user without the right): the side that
      // costs only writes. Any other failure (a failover, a timeout) fails the start, as the database being away does.
      if (!REFUSALS.has((error as { code?: number }).code ?? -1)) throw error;
      this.logger.warn(`buildInfo refused (${(error as Error).message}): the \`_id\`-led lookup indexes are created (MONGO_ID_LOOKUP_INDEXES=never leaves them out)`);
      return true;
    }
    const wanted = !plansQueries(buildInfo);
    this.logger.debug(`MongoDB ${String(buildInfo.version)}: ${wanted ? 'no query planner known: `_id`-led lookup indexes created' : 'its query planner finds documents by _id: no `_id`-led lookup indexes'}`);
    return wanted;
  }
}

/** A server's refusals of buildInfo: Unauthorized, CommandNotFound, CommandNotSupported, APIStrictError. */
const REFUSALS = new Set([13, 59, 115, 323]);
