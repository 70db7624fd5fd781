import { grantKeys, isUserEvent, LocationAdded, PartnerRegistered, Topics, UserEvent } from '@lib/contracts';
import { ConsumedEvent, UPDATES_PER_COMMAND, upsertIfNewer } from '@lib/messaging';
import { Controller, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { AccessGrant, AccessLocation, AccessUser, grantIndexKeys } from './access.schemas';

/** The grant index's own mark that every user of the view is in it (no grant key starts with `#`). */
export const INDEX_BUILT = '#built';

/** Users indexed a batch at a time when the index is built at start. */
const INDEX_BATCH = 1_000;

/**
 * Keeps this service's copy of partners' locations and users' roles, from identity.events.v1 alone.
 * Every user event carries the whole user, and a newer revision replaces an older one; so duplicates,
 * reordering and a replay from the start all end in the same view.
 */
@Injectable()
export class AccessViewUpdater implements OnApplicationBootstrap {
  private readonly logger = new Logger(AccessViewUpdater.name);

  constructor(
    @InjectModel(AccessUser.name) private readonly users: Model<AccessUser>,
    @InjectModel(AccessLocation.name) private readonly locations: Model<AccessLocation>,
    @InjectModel(AccessGrant.name) private readonly grants: Model<AccessGrant>,
  ) {}

  /**
   * A view stored before the grant index existed: index its users once (adding is idempotent), then mark it done
   * (INDEX_BUILT). Until the mark is written every start indexes them again: a first start stopped halfway is finished
   * by the next (any grant there is no sign of it). A build that fails stops the start (its orchestrator starts it
   * again): consumers and requests running on a partial index would find no Incentives admin where there is one (an
   * invitation parked AWAITING_ADMIN, a location's admins listed empty), which a later build would not undo.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (await this.grants.exists({ _id: INDEX_BUILT })) return;
    // Active users only: the index holds those (upsertUser), and every reader keeps only them anyway. Read a batch at a
    // time: a large view is not held in memory at once.
    let read = 0;
    try {
      let batch: Array<{ userId: string; partnerId: string; roles: Array<{ role: string; locationIds: string[] }> }> = [];
      for await (const u of this.users.find({ active: true }, { _id: 1, partnerId: 1, roles: 1 }).lean().cursor({ batchSize: INDEX_BATCH })) {
        batch.push({ userId: u._id, partnerId: u.partnerId, roles: u.roles });
        read += 1;
        if (batch.length >= INDEX_BATCH) {
          await this.index(batch);
          batch = [];
        }
      }
      await this.index(batch);
      await this.grants.updateOne({ _id: INDEX_BUILT }, { $setOnInsert: { userIds: [] } }, { upsert: true });
    } catch (error) {
      throw new Error(`grant index of ${read} users not built at start (the next start builds it): ${(error as Error).message}`, { cause: error });
    }
    if (read) this.logger.log(`indexed the grants of ${read} users`);
  }

  private async index(users: Array<{ userId: string; partnerId: string; roles: Array<{ role: string; locationIds: string[] }> }>): Promise<void> {
    await this.addKeys(users.flatMap((u) => grantIndexKeys(u.partnerId, u.roles).map((key) => ({ userId: u.userId, key }))));
  }

  private async addKeys(entries: Array<{ userId: string; key: string }>): Promise<void> {
    const ops = entries.map(({ userId, key }) => ({
      updateOne: { filter: { _id: key }, update: { $addToSet: { userIds: userId } }, upsert: true },
    }));
    for (let i = 0; i < ops.length; i += UPDATES_PER_COMMAND) await this.grants.bulkWrite(ops.slice(i, i + UPDATES_PER_COMMAND) as never, { ordered: false });
  }

  async apply(type: string, data: unknown): Promise<void> {
    if (type === 'PartnerRegistered') {
      const { partnerId, locations } = data as PartnerRegistered;
      await Promise.all(locations.map((location) => this.upsertLocation({ ...location, partnerId })));
    } else if (type === 'LocationAdded') {
      await this.upsertLocation(data as LocationAdded);
    } else if (isUserEvent(type)) {
      await this.upsertUser(data as UserEvent);
    }
  }

  private async upsertLocation({ locationId, partnerId, country, legalName }: LocationAdded): Promise<void> {
    await this.locations.updateOne(
      { _id: locationId },
      { $set: { partnerId, country, legalName } },
      { upsert: true },
    );
  }

  /**
   * The grant index holds an active user under the keys of the roles they hold. Additions first: a reader that finds
   * the user there and reads an older snapshot filters it out. Then the keys the stored snapshot does not hold (a role
   * revoked, the user deactivated; what an older snapshot read again added) let the user go: every invitation reads a
   * location's holders, and an index that only grew would load every user who ever held the role there (a large
   * partner's churn). A crash between the view's write and this leaves the user under the keys it dropped (filtered
   * out by readers) until their next event.
   */
  private async upsertUser({ user }: UserEvent): Promise<void> {
    const { userId } = user;
    const keys = user.active ? grantIndexKeys(user.partnerId, user.roles) : [];
    // Only the keys the stored snapshot does not hold: it is in the index under its own (added before it was written, or
    // by the build at start). A user holding a list of thousands of locations (`*` narrowed by one) is not written
    // under every one of them again at each of their events, and an event applied again adds nothing.
    const stored = await this.users.findById(userId, { partnerId: 1, active: 1, roles: 1 }).lean<Pick<AccessUser, 'partnerId' | 'active' | 'roles'>>();
    const indexed = new Set(stored?.active ? grantIndexKeys(stored.partnerId, stored.roles) : []);
    await this.addKeys(keys.filter((key) => !indexed.has(key)).map((key) => ({ userId, key })));
    let before: AccessUser | undefined;
    const replaced = await upsertIfNewer<AccessUser>(this.users.collection, userId, {
      replaces: (stored) => {
        before = stored;
        return stored.revision < user.revision;
      },
      set: {
        partnerId: user.partnerId,
        email: user.email,
        displayName: user.displayName,
        active: user.active,
        revision: user.revision,
        roles: user.roles.map((r) => ({ role: r.role, locationIds: r.locationIds })),
        grants: grantKeys(user.roles),
      },
    });
    // What the view holds now: this snapshot, or the newer one it found (an older snapshot read again, a replay, takes
    // back at once what it added).
    const current = replaced ? user : before;
    const held = new Set(current?.active ? grantIndexKeys(current.partnerId, current.roles) : []);
    const touched = new Set([...keys, ...(before ? grantIndexKeys(before.partnerId, before.roles) : [])]);
    const stale = [...touched].filter((key) => !held.has(key));
    // The keys this snapshot holds and the stored one did not, added again now that it is written: another consumer of
    // the partition (a rebalance under way) applying an older event may have pulled them between the addition and the
    // write (it read the view before this write, found them stale, and pulled after this addition).
    const added = replaced ? keys.filter((key) => !indexed.has(key)) : [];
    if (added.length) await this.addKeys(added.map((key) => ({ userId, key })));
    if (!stale.length) return;
    await this.grants.updateMany({ _id: { $in: stale } }, { $pull: { userIds: userId } });
    // And the other side of it: a newer snapshot written meanwhile by that other consumer may hold a key just pulled.
    // Read again after the pull, it is put back; one written after this read adds it again itself (above).
    const now = await this.users.findById(userId, { partnerId: 1, active: 1, roles: 1 }).lean<Pick<AccessUser, 'partnerId' | 'active' | 'roles'>>();
    const holds = new Set(now?.active ? grantIndexKeys(now.partnerId, now.roles) : []);
    const back = stale.filter((key) => holds.has(key));
    if (back.length) await this.addKeys(back.map((key) => ({ userId, key })));
  }
}

/** What a service does with an identity event besides the role view: run after the view has the event. */
export type IdentityEventFollower = (event: ConsumedEvent) => Promise<void>;

/**
 * The service's own work on identity.events.v1 (added at module init), run by this module's handler after the role
 * view, one after the other. A second `@EventPattern` of the topic would not do: Nest runs two handlers of one pattern
 * at once (forkJoin), so when one fails the consumer retries both while the other is still running, and may commit
 * the offset, dead-letter the event or close the database before it ends.
 */
@Injectable()
export class IdentityEventFollowers {
  private readonly followers: IdentityEventFollower[] = [];

  add(follower: IdentityEventFollower): void {
    this.followers.push(follower);
  }

  async run(event: ConsumedEvent): Promise<void> {
    for (const follow of this.followers) await follow(event);
  }
}

@Controller()
export class AccessEventsController {
  constructor(
    private readonly updater: AccessViewUpdater,
    private readonly followers: IdentityEventFollowers,
  ) {}

  @EventPattern(Topics.identity)
  async onIdentityEvent(@Payload() event: ConsumedEvent) {
    await this.updater.apply(event.envelope.type, event.envelope.data);
    await this.followers.run(event);
  }
}
