import { LocationAdded, PartnerRegistered, Topics, UserEvent } from '@lib/contracts';
import { ConsumedEvent } from '@lib/messaging';
import { Controller, Injectable } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { AccessLocation, AccessUser, grantKeys } from './access.schemas';

const USER_EVENTS = new Set(['UserCreated', 'UserUpdated', 'UserDeactivated', 'RoleAssigned', 'RoleRevoked']);

/**
 * Keeps this service's copy of partners' locations and users' roles, from identity.events.v1 alone.
 * Every user event carries the whole user, and a newer revision replaces an older one; so duplicates,
 * reordering and a replay from the start all end in the same view.
 */
@Injectable()
export class AccessViewUpdater {
  constructor(
    @InjectModel(AccessUser.name) private readonly users: Model<AccessUser>,
    @InjectModel(AccessLocation.name) private readonly locations: Model<AccessLocation>,
  ) {}

  async apply(type: string, data: unknown): Promise<void> {
    if (type === 'PartnerRegistered') {
      const { partnerId, locations } = data as PartnerRegistered;
      await Promise.all(locations.map((location) => this.upsertLocation({ ...location, partnerId })));
    } else if (type === 'LocationAdded') {
      await this.upsertLocation(data as LocationAdded);
    } else if (USER_EVENTS.has(type)) {
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

  private async upsertUser({ user }: UserEvent): Promise<void> {
    const { userId, ...snapshot } = user;
    try {
      await this.users.updateOne(
        { _id: userId, revision: { $lt: user.revision } },
        {
          $set: {
            ...snapshot,
            roles: snapshot.roles.map((r) => ({ role: r.role, locationIds: r.locationIds })),
            grants: grantKeys(snapshot.roles),
          },
        },
        { upsert: true },
      );
    } catch (error) {
      // The user exists with this revision or a newer one: the upsert's insert collides, and that is the no-op.
      if ((error as { code?: number }).code !== 11000) throw error;
    }
  }
}

@Controller()
export class AccessEventsController {
  constructor(private readonly updater: AccessViewUpdater) {}

  @EventPattern(Topics.identity)
  async onIdentityEvent(@Payload() event: ConsumedEvent) {
    await this.updater.apply(event.envelope.type, event.envelope.data);
  }
}
