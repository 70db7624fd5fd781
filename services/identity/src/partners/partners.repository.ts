import { LocationAdded, PartnerRegistered, Topics } from '@lib/contracts';
import { EventOutbox, pushOutbox } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { Location, LocationClaim, PendingAdmin, Partner } from './partner.schema';

export class LocationTakenError extends Error {
  override readonly name = 'LocationTakenError';
  constructor(readonly locationIds: string[]) {
    super(`Location id(s) already registered: ${locationIds.join(', ')}.`);
  }
}

export class PartnerExistsError extends Error {
  override readonly name = 'PartnerExistsError';
}

/** Partners and their locations; location ids are claimed platform-wide before the partner document names them. */
@Injectable()
export class PartnersRepository {
  constructor(
    @InjectModel(Partner.name) private readonly partners: Model<Partner>,
    @InjectModel(LocationClaim.name) private readonly claims: Model<LocationClaim>,
    private readonly outbox: EventOutbox,
  ) {}

  find(partnerId: string): Promise<Partner | null> {
    return this.partners.findById(partnerId).lean<Partner>();
  }

  withPendingAdmin(): Promise<Partner[]> {
    return this.partners.find({ pendingAdmin: { $exists: true } }).lean<Partner[]>();
  }

  /**
   * Claims location ids for a partner and returns the ids this call claimed (claims the partner already holds are
   * kept: a retried request). If any id belongs to another partner, or the claiming fails, the claims made by this
   * call are released; a taken id throws LocationTakenError.
   */
  async claim(partnerId: string, locationIds: string[]): Promise<string[]> {
    const made: string[] = [];
    const taken: string[] = [];
    try {
      for (const locationId of locationIds) {
        try {
          await this.claims.create({ _id: locationId, partnerId });
          made.push(locationId);
        } catch (error) {
          if ((error as { code?: number }).code !== 11000) throw error;
          const owner = await this.claims.findById(locationId).lean();
          if (owner?.partnerId !== partnerId) taken.push(locationId);
        }
      }
    } catch (error) {
      await this.release(partnerId, made);
      throw error;
    }
    if (taken.length) {
      await this.release(partnerId, made);
      throw new LocationTakenError(taken);
    }
    return made;
  }

  /**
   * Gives back claims of the partner after a failed write, except those its partner document lists (a concurrent
   * request for the same partner may have written it, relying on these claims).
   */
  async release(partnerId: string, locationIds: string[]): Promise<void> {
    if (!locationIds.length) return;
    const listed = new Set((await this.find(partnerId))?.locations.map((l) => l.locationId) ?? []);
    const unlisted = locationIds.filter((id) => !listed.has(id));
    if (unlisted.length) await this.claims.deleteMany({ _id: { $in: unlisted }, partnerId });
  }

  /** Inserts the partner with its locations and PartnerRegistered; the first admin stays pending until written. */
  async register(partner: { partnerId: string; name: string; locations: Location[]; pendingAdmin: PendingAdmin }): Promise<Partner> {
    const data: PartnerRegistered = { partnerId: partner.partnerId, name: partner.name, locations: partner.locations };
    const event = this.outbox.event(Topics.identity, { type: 'PartnerRegistered', data });
    try {
      await this.partners.create({
        _id: partner.partnerId,
        name: partner.name,
        locations: partner.locations,
        pendingAdmin: partner.pendingAdmin,
        version: 1,
        outbox: [event],
      });
    } catch (error) {
      if ((error as { code?: number }).code === 11000) throw new PartnerExistsError(`Partner ${partner.partnerId} is already registered.`);
      throw error;
    }
    this.outbox.committed();
    return (await this.find(partner.partnerId))!;
  }

  async clearPendingAdmin(partnerId: string): Promise<void> {
    await this.partners.updateOne({ _id: partnerId }, { $unset: { pendingAdmin: 1 } });
  }

  /**
   * Takes the partner's Global-admin change lease when nobody holds it or its holder's time ran out; false while
   * another request holds it. One conditional single-document update: atomic on MongoDB and mongo-java-server.
   */
  async takeGlobalAdminLease(partnerId: string, token: string, until: Date): Promise<boolean> {
    const { matchedCount } = await this.partners.updateOne(
      { _id: partnerId, $or: [{ globalAdminChange: { $exists: false } }, { 'globalAdminChange.until': { $lte: new Date() } }] },
      { $set: { globalAdminChange: { token, until } } },
      { timestamps: false },
    );
    return matchedCount === 1;
  }

  async releaseGlobalAdminLease(partnerId: string, token: string): Promise<void> {
    await this.partners.updateOne({ _id: partnerId, 'globalAdminChange.token': token }, { $unset: { globalAdminChange: 1 } }, { timestamps: false });
  }

  /** Adds a location (already claimed) with LocationAdded; false when the partner already lists it. */
  async addLocation(partnerId: string, location: Location): Promise<boolean> {
    const data: LocationAdded = { partnerId, ...location };
    const event = this.outbox.event(Topics.identity, { type: 'LocationAdded', data });
    const result = await this.partners.updateOne(
      { _id: partnerId, 'locations.locationId': { $ne: location.locationId } },
      { $push: { locations: location, ...pushOutbox([event]) }, $inc: { version: 1 } },
    );
    if (result.modifiedCount === 1) this.outbox.committed();
    return result.modifiedCount === 1;
  }
}
