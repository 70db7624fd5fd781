import { ALL_LOCATIONS } from '@lib/contracts';
import { Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { BankProfile, DefaultClaim } from '../bank-profiles/bank-profile.schema';
import { DefaultBankProfile } from './default-bank-profile.schema';
import { sortClaims } from './default-claims-rules';

/**
 * The defaults a bank profile serves, on the profile itself (`defaultFor`), so that the rules that join a profile and
 * its defaults are each decided by one conditional write on one document (no transactions: MongoDB, mongo-java-server
 * and FerretDB alike):
 *  - a default claims the profile before it is written, with a write that only matches while the profile has the
 *    default's currency; a currency change only matches while no claim was added since it read the list empty;
 *  - who may edit the profile (an Incentives admin of each location it is default for) is read from the same list,
 *    and the edit is guarded the same way;
 *  - a location's default must be a profile that serves it: a claim only matches while the profile serves the
 *    location, and a change of the profile's locationIds that leaves out a location in the list is refused (409).
 * The order of writes errs on the safe side: a claim is written before the default and dropped only after the
 * default moved on, so a crash leaves a claim too many (which refuses a currency change until that location's
 * default changes), never a default the profile does not know of. A request that fails (rather than crashes) after
 * claiming withdraws the claims it made (tagged with its token) for the locations it did not write.
 */
@Injectable()
export class DefaultClaims {
  private readonly logger = new Logger(DefaultClaims.name);

  constructor(
    @InjectModel(BankProfile.name) private readonly profiles: Model<BankProfile>,
    @InjectModel(DefaultBankProfile.name) private readonly defaults: Model<DefaultBankProfile>,
  ) {}

  /**
   * Claims the profile for version `version` of each location's default, in one write that only matches while the
   * profile has `currency` and serves every one of the locations (`locationIds` naming it or '*', or absent: a profile
   * stored before it existed serves all). False when it no longer does (or is gone): nothing was claimed. `token` names the request
   * (one per request): identical requests at the same time make distinct claims, and each withdraws only its own.
   */
  async claim(
    partnerId: string,
    profileId: string,
    currency: string,
    claims: Array<{ locationId: string; version: number }>,
    token: string,
  ): Promise<boolean> {
    const profile = await this.profiles.findOne({ _id: profileId, partnerId }).lean<BankProfile>();
    if (!profile) return false;
    await this.settled(profile);
    const tagged: DefaultClaim[] = claims.map(({ locationId, version }) => ({ locationId, version, token }));
    const serving = [...new Set(claims.map((c) => c.locationId))].map((locationId) => ({
      $or: [{ locationIds: { $exists: false } }, { locationIds: { $in: [ALL_LOCATIONS, locationId] } }],
    }));
    const { matchedCount } = await this.profiles.updateOne(
      { _id: profileId, partnerId, currency, $and: serving },
      { $addToSet: { defaultFor: { $each: tagged } }, $inc: { defaultClaims: 1 } },
      { timestamps: false },
    );
    return matchedCount === 1;
  }

  /** Each location's default was written at its version: the partner's profile's claims for it up to that one are obsolete. */
  async release(partnerId: string, profileId: string, upTo: ReadonlyMap<string, number>): Promise<void> {
    if (!upTo.size) return;
    await this.pullClaims(partnerId, profileId, (claim) => claim.version <= (upTo.get(claim.locationId) ?? -1));
  }

  /**
   * Removes the profile's claims `which` picks, exactly as read (`$pullAll`): a `$pull` with a condition or a partial
   * claim removes nothing on FerretDB, silently (deploy/local/ferretdb/README.md). Claims added since the read stay;
   * one another request removed since is not there to remove.
   */
  private async pullClaims(partnerId: string, profileId: string, which: (claim: DefaultClaim) => boolean): Promise<void> {
    const profile = await this.profiles.collection.findOne<Pick<BankProfile, 'defaultFor'>>({ _id: profileId, partnerId } as never, { projection: { defaultFor: 1 } });
    const obsolete = (profile?.defaultFor ?? []).filter(which);
    if (!obsolete.length) return;
    await this.profiles.collection.updateOne({ _id: profileId, partnerId } as never, { $pullAll: { defaultFor: obsolete } } as never);
  }

  /**
   * `release` once the defaults' writes are committed: the change happened, so a failure here must not turn it into an
   * error for the caller. The claims left behind are obsolete, and `holders` drops those on the profile's next change.
   */
  async releaseAfterWrite(partnerId: string, profileId: string, upTo: ReadonlyMap<string, number>): Promise<void> {
    try {
      await this.release(partnerId, profileId, upTo);
    } catch (error) {
      const which = [...upTo].map(([locationId, version]) => `${locationId} up to ${version}`).join(', ');
      this.logger.warn(`could not release the claims of ${which} on bank profile ${profileId} (dropped on its next change): ${(error as Error).message}`);
    }
  }

  /**
   * A request that claimed the profile (with `token`) failed before writing the defaults of `locationIds`: withdraws
   * its claims for them, which would otherwise stay pending (the default stays below their version) and keep the
   * currency fixed. The stored defaults are read first and a claim a default was written with (the location's
   * default is this profile at the claim's version) is kept. Claims of other requests (other tokens, or none) are
   * never touched. Best effort: a failure here is logged and leaves the claims, as a crash would. (A write whose
   * error came back while the database still applied it after this read would lose its claim: the one window where
   * this errs on the side of a claim too few.)
   */
  async withdraw(partnerId: string, profileId: string, token: string, locationIds: string[]): Promise<void> {
    if (!locationIds.length) return;
    try {
      const stored = await this.defaults
        .find({ _id: { $in: locationIds }, partnerId }, { version: 1, bankProfileId: 1 })
        .lean<DefaultBankProfile[]>();
      // The claim a default was written with (this profile, at the claim's version) is kept.
      const writtenWith = new Map(stored.filter((d) => d.bankProfileId === profileId).map((d) => [d._id, d.version]));
      const withdrawn = new Set(locationIds);
      await this.pullClaims(
        partnerId,
        profileId,
        (claim) => claim.token === token && withdrawn.has(claim.locationId) && writtenWith.get(claim.locationId) !== claim.version,
      );
    } catch (error) {
      this.logger.warn(`could not withdraw the claims of a failed assignment on bank profile ${profileId} (${locationIds.join(', ')}): ${(error as Error).message}`);
    }
  }

  /**
   * The profile as stored, with its claims (filled from default_bank_profiles for a profile stored before they
   * existed), the locations it is default for (or about to be), and the claim counter to guard a write with.
   * Obsolete claims are dropped on the way.
   */
  async holders(profile: BankProfile): Promise<{ profile: BankProfile; locationIds: string[]; claims: number }> {
    const current = await this.settled(profile);
    const claims = current.defaultFor ?? [];
    if (!claims.length) return { profile: current, locationIds: [], claims: current.defaultClaims ?? 0 };
    const stored = await this.defaults
      .find({ _id: { $in: [...new Set(claims.map((c) => c.locationId))] }, partnerId: current.partnerId }, { version: 1, bankProfileId: 1 })
      .lean<DefaultBankProfile[]>();
    const { live, obsoleteUpTo } = sortClaims(
      current._id,
      claims,
      stored.map((d) => ({ locationId: d._id, version: d.version, bankProfileId: d.bankProfileId })),
    );
    await this.release(current.partnerId, current._id, obsoleteUpTo);
    return { profile: current, locationIds: live, claims: current.defaultClaims ?? 0 };
  }

  /** A profile stored before claims existed gets them from the defaults that point at it (once; the first write wins). */
  private async settled(profile: BankProfile): Promise<BankProfile> {
    if (profile.defaultFor) return profile;
    const pointing = await this.defaults.find({ partnerId: profile.partnerId, bankProfileId: profile._id }, { version: 1 }).lean<DefaultBankProfile[]>();
    await this.profiles.updateOne(
      { _id: profile._id, defaultFor: { $exists: false } },
      { $set: { defaultFor: pointing.map((d) => ({ locationId: d._id, version: d.version })), defaultClaims: 0 } },
      { timestamps: false },
    );
    return (await this.profiles.findById(profile._id).lean<BankProfile>())!;
  }
}
