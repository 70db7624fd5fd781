import { LocationAdded, PartnerRegistered, Topics } from '@lib/contracts';
import { EventOutbox, isDuplicateKey, pushOutbox } from '@lib/messaging';
import { Problems } from '@lib/platform';
import { Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { Location, LocationClaim, PendingAdmin, Partner, PENDING_ADMIN } from './partner.schema';

export class LocationTakenError extends Error {
  override readonly name = 'LocationTakenError';
  constructor(readonly locationIds: string[]) {
    super(`Location id(s) already registered: ${locationIds.join(', ')}.`);
  }
}

export class PartnerExistsError extends Error {
  override readonly name = 'PartnerExistsError';
}

/** How long a claim no partner document lists is left alone before the sweep may remove it. */
export const CLAIM_GRACE_MS = 10 * 60_000;

/** The location claims of one request: `made` = the ids it created, under its `token` (`claimedBy`). */
export interface Claims {
  partnerId: string;
  token: string;
  /** Every location id claimed (made or held). */
  locationIds: string[];
  made: string[];
}

/** Partners and their locations; location ids are claimed platform-wide before the partner document names them. */
@Injectable()
export class PartnersRepository {
  private readonly logger = new Logger(PartnersRepository.name);

  constructor(
    @InjectModel(Partner.name) private readonly partners: Model<Partner>,
    @InjectModel(LocationClaim.name) private readonly claims: Model<LocationClaim>,
    private readonly outbox: EventOutbox,
  ) {}

  find(partnerId: string): Promise<Partner | null> {
    return this.partners.findById(partnerId).lean<Partner>();
  }

  /** Whether the partner lists this location, without reading its whole list. */
  async hasLocation(partnerId: string, locationId: string): Promise<boolean> {
    return this.hasLocations(partnerId, [locationId]);
  }

  /** Whether the partner lists every one of these locations, without reading its list (up to 5,000 locations). */
  async hasLocations(partnerId: string, locationIds: string[]): Promise<boolean> {
    const listed = locationIds.length === 1 ? locationIds[0] : { $all: locationIds };
    return (await this.partners.exists({ _id: partnerId, 'locations.locationId': listed })) !== null;
  }

  /** The partners whose first Global admin is not written yet (PENDING_ADMIN: served by its index). */
  withPendingAdmin(): Promise<Partner[]> {
    return this.partners.find(PENDING_ADMIN).lean<Partner[]>();
  }

  /**
   * Claims location ids for a request of a partner. Each id is either made (created by this call), held (already
   * claimed for the same partner: a retried or identical concurrent request; this call takes it over, see release),
   * or taken (another partner's: LocationTakenError). A claim of another partner that no partner document lists and
   * that nobody took for the grace period is a leftover of a crashed registration: it is removed and claimed again.
   * If any id is taken, or claiming fails, the claims made by this call are given back (see release).
   */
  async claim(partnerId: string, locationIds: string[]): Promise<Claims> {
    const claims: Claims = { partnerId, token: randomUUID(), locationIds, made: [] };
    const taken: string[] = [];
    try {
      for (const locationId of locationIds) {
        const outcome = await this.claimOne(claims, locationId);
        if (outcome === 'made') claims.made.push(locationId);
        if (outcome === 'taken') taken.push(locationId);
      }
    } catch (error) {
      await this.release(claims).catch(() => undefined);
      throw error;
    }
    if (taken.length) {
      await this.release(claims).catch(() => undefined);
      throw new LocationTakenError(taken);
    }
    return claims;
  }

  private async claimOne(claims: Claims, locationId: string): Promise<'made' | 'held' | 'taken'> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = new Date();
      try {
        await this.claims.create({ _id: locationId, partnerId: claims.partnerId, claimedAt: now, claimedBy: claims.token });
        return 'made';
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      // Ours already: take it over, so that the request that made it (if it fails) no longer gives it back.
      const { matchedCount } = await this.claims.updateOne({ _id: locationId, partnerId: claims.partnerId }, { $set: { claimedAt: now, claimedBy: claims.token } });
      if (matchedCount === 1) return 'held';
      const owner = await this.claims.findById(locationId).lean<LocationClaim>();
      if (owner && owner.partnerId !== claims.partnerId && !(await this.sweepOne(owner, now, CLAIM_GRACE_MS))) return 'taken';
      // Gone meanwhile (given back or swept), or just claimed again for this partner: try again.
    }
    throw Problems.busy(`The claim of location ${locationId} kept changing; try again.`);
  }

  /**
   * Right before the partner write that lists the claimed locations: their claims' grace period starts again, and every
   * one must still be the partner's (this request's, or an identical one's that took it over). One the sweep removed
   * meanwhile, its grace period over (a registration held up for that long), may be another partner's by now: the write
   * would list a location that partner lists too, and each service's view would give it to whichever event came last.
   * 409 busy then (the caller gives back what it holds; a retry claims again).
   */
  async hold(claims: Claims): Promise<void> {
    const { matchedCount } = await this.claims.updateMany({ _id: { $in: claims.locationIds }, partnerId: claims.partnerId }, { $set: { claimedAt: new Date() } });
    if (matchedCount === claims.locationIds.length) return;
    throw Problems.busy('The claims of the locations expired while the request was held up; try again.');
  }

  /**
   * Gives back the claims a request made, after its partner write failed or another id was taken. Only claims this
   * request still holds: an identical request of the same partner that took one over (it may be writing the partner
   * document right now) keeps it, since taking over replaces `claimedBy` in the same single-document update that
   * the conditional delete here races with. Claims the partner document lists are kept too (a write that reported a
   * failure but landed). Claims not given back are left to the sweep.
   */
  async release(claims: Claims): Promise<void> {
    if (!claims.made.length) return;
    const listed = new Set((await this.find(claims.partnerId))?.locations.map((l) => l.locationId) ?? []);
    const unlisted = claims.made.filter((id) => !listed.has(id));
    if (!unlisted.length) return;
    await this.claims.deleteMany({ _id: { $in: unlisted }, partnerId: claims.partnerId, claimedBy: claims.token, listed: { $ne: true } });
  }

  /**
   * Removes the claims no partner document lists that nobody took for `graceMs` (left by a registration that
   * crashed between its claims and its partner write); marks listed ones `listed` (never removed); gives claims
   * written before `claimedAt` existed a grace period starting now. Returns the location ids removed.
   */
  async sweepClaims(graceMs = CLAIM_GRACE_MS, now = new Date()): Promise<string[]> {
    const removed: string[] = [];
    const unlisted = await this.claims.find({ listed: { $ne: true } }).lean<LocationClaim[]>();
    for (let i = 0; i < unlisted.length; i += 200) {
      const batch = unlisted.slice(i, i + 200);
      const listed = await this.listedAmong(batch.map((c) => c._id));
      for (const claim of batch) if (await this.sweepOne(claim, now, graceMs, listed.has(claim._id))) removed.push(claim._id);
    }
    return removed;
  }

  /** True when the claim was a stale leftover and is now gone. */
  private async sweepOne(claim: LocationClaim, now: Date, graceMs: number, listed?: boolean): Promise<boolean> {
    if (claim.listed) return false;
    listed ??= (await this.listedAmong([claim._id])).has(claim._id);
    if (listed) {
      await this.claims.updateOne({ _id: claim._id }, { $set: { listed: true } });
      return false;
    }
    if (!claim.claimedAt || !claim.claimedBy) {
      // Written before claims carried a time: its grace period starts now.
      await this.claims.updateOne({ _id: claim._id, claimedBy: { $exists: false } }, { $set: { claimedAt: now, claimedBy: randomUUID() } });
      return false;
    }
    if (now.getTime() - new Date(claim.claimedAt).getTime() < graceMs) return false;
    // Only if nobody took it over since it was read (a retry of the same partner refreshes claimedBy), nor held it for
    // its write (hold refreshes claimedAt): the sweep reads the claims before it gets to this one.
    const { deletedCount } = await this.claims.deleteOne({
      _id: claim._id,
      partnerId: claim.partnerId,
      claimedBy: claim.claimedBy,
      claimedAt: claim.claimedAt,
      listed: { $ne: true },
    });
    if (deletedCount !== 1) return false;
    // A registration slower than the grace period may have written its partner document in between: put it back.
    const lister = await this.partners.findOne({ 'locations.locationId': claim._id }, { _id: 1 }).lean<{ _id: string }>();
    if (lister) {
      await this.restore(lister._id, claim._id);
      return false;
    }
    this.logger.warn(`removed the claim of location ${claim._id} for partner ${claim.partnerId}: no partner lists it since ${new Date(claim.claimedAt).toISOString()}`);
    return true;
  }

  private async listedAmong(locationIds: string[]): Promise<Set<string>> {
    const wanted = new Set(locationIds);
    const partners = await this.partners.find({ 'locations.locationId': { $in: locationIds } }, { 'locations.locationId': 1 }).lean<Array<Pick<Partner, 'locations'>>>();
    return new Set(partners.flatMap((p) => p.locations.map((l) => l.locationId)).filter((id) => wanted.has(id)));
  }

  /**
   * After a partner document was written listing these locations: marks their claims `listed`, and puts back any
   * that went missing (given back by a failed identical request that took it over last). Never throws: the sweep
   * marks what this could not.
   */
  private async settle(partnerId: string, locationIds: string[]): Promise<void> {
    try {
      const { matchedCount } = await this.claims.updateMany({ _id: { $in: locationIds }, partnerId }, { $set: { listed: true } });
      if (matchedCount === locationIds.length) return;
      const present = new Set((await this.claims.find({ _id: { $in: locationIds }, partnerId }, { _id: 1 }).lean<Array<{ _id: string }>>()).map((c) => c._id));
      for (const locationId of locationIds.filter((id) => !present.has(id))) await this.restore(partnerId, locationId);
    } catch (error) {
      this.logger.warn(`could not mark the claims of partner ${partnerId} as listed: ${(error as Error).message}`);
    }
  }

  private async restore(partnerId: string, locationId: string): Promise<void> {
    try {
      await this.claims.create({ _id: locationId, partnerId, claimedAt: new Date(), claimedBy: randomUUID(), listed: true });
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      const { matchedCount } = await this.claims.updateOne({ _id: locationId, partnerId }, { $set: { listed: true } });
      if (matchedCount !== 1) this.logger.error(`location ${locationId} is listed by partner ${partnerId} but claimed for another partner`);
    }
  }

  /** Inserts the partner with its locations and PartnerRegistered; the first admin stays pending until written. */
  async register(partner: { partnerId: string; name: string; locations: Location[]; pendingAdmin: PendingAdmin; createdByRequest?: string }): Promise<Partner> {
    const data: PartnerRegistered = { partnerId: partner.partnerId, name: partner.name, locations: partner.locations };
    const event = this.outbox.event(Topics.identity, { type: 'PartnerRegistered', data });
    try {
      await this.partners.create({
        _id: partner.partnerId,
        name: partner.name,
        locations: partner.locations,
        pendingAdmin: partner.pendingAdmin,
        firstAdminUserId: partner.pendingAdmin.userId,
        ...(partner.createdByRequest !== undefined && { createdByRequest: partner.createdByRequest }),
        version: 1,
        outbox: [event],
      });
    } catch (error) {
      if (isDuplicateKey(error)) throw new PartnerExistsError(`Partner ${partner.partnerId} is already registered.`);
      throw error;
    }
    this.outbox.committed();
    await this.settle(partner.partnerId, partner.locations.map((l) => l.locationId));
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
    if (result.modifiedCount !== 1) return false;
    this.outbox.committed();
    await this.settle(partnerId, [location.locationId]);
    return true;
  }
}
