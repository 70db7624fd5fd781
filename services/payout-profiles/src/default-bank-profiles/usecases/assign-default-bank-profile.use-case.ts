import { Actor } from '@lib/access';
import { DefaultBankProfileChange, Topics } from '@lib/contracts';
import { EventOutbox, isDuplicateKey, pushOutbox } from '@lib/messaging';
import { Clock, Principal, ProblemException, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { BankProfilesRepository } from '../../bank-profiles/bank-profiles.repository';
import { PayoutAccess } from '../../profiles/payout-access';
import { servedLocations, serves, shownLocations } from '../../profiles/permissions';
import { locationNotServed } from '../../profiles/problems';
import { DefaultBankProfile, defaultVersionMatches } from '../default-bank-profile.schema';
import { DefaultClaims } from '../default-claims';

export type AssignOutcome = 'ASSIGNED' | 'UNCHANGED';

/** What assigning did for one location: `created` when it had no default (never one, or removed) and has one now. */
export interface Assigned {
  outcome: AssignOutcome;
  current: DefaultBankProfile;
  created?: boolean;
}

const ATTEMPTS = 5;

/**
 * Makes (bank profile, currency) the default of locations. The caller must be Incentives admin of every
 * location (checked for all before anything changes) and may read the profile (the 403 of its GET otherwise, before
 * anything names its currency or locations), and the profile must serve every one of them (409
 * `location-not-served` otherwise); the locations then claim the profile (DefaultClaims: only while it has the
 * currency and serves them, so a change of its locationIds racing this request is refused on one side), and each
 * location is one conditional write with its DefaultBankProfileAssigned event (key locationId, with the default's new
 * version, which orders the location's events for consumers where the writers' clocks may not). Assigning the same
 * default again changes nothing. A failure halfway keeps the locations written before it (their events are sent) and
 * withdraws this request's claims for the others.
 */
@Injectable()
export class AssignDefaultBankProfile {
  constructor(
    private readonly access: PayoutAccess,
    private readonly bankProfiles: BankProfilesRepository,
    @InjectModel(DefaultBankProfile.name) private readonly defaults: Model<DefaultBankProfile>,
    private readonly outbox: EventOutbox,
    private readonly claims: DefaultClaims,
    private readonly clock: Clock,
  ) {}

  async execute(
    principal: Principal,
    input: { bankProfileId: string; currency: string; locationIds: string[]; expectedVersion?: number },
    /** Where the request named the locations: the path (one, PUT) or the body (POST's `locationIds`). */
    namedIn: 'path' | 'body',
  ): Promise<Assigned[]> {
    const actor = await this.access.locationsAdmin(principal, input.locationIds, 'set its default bank profile', namedIn);
    const profile = await this.bankProfiles.findForPartner(actor.partnerId, input.bankProfileId);
    if (!profile) throw Problems.field('bankProfileId', 'must be a bank profile of your partner');
    // Before anything names its currency or locations: a caller who may not read the profile learns no more here than
    // from its GET (403).
    this.access.bankProfileReader(actor, input.bankProfileId, servedLocations(profile));
    if (profile.currency !== input.currency) {
      throw Problems.field('currency', `must be the currency of the bank profile (${profile.currency})`);
    }
    const served = servedLocations(profile);
    const notServed = input.locationIds.filter((locationId) => !serves(served, locationId));
    if (notServed.length) throw locationNotServed(input.bankProfileId, shownLocations(actor, served), notServed);
    const target: Target = {
      actor,
      partnerId: actor.partnerId,
      userId: actor.userId,
      bankProfileId: input.bankProfileId,
      currency: input.currency,
      token: randomUUID(),
      claimed: new Set(),
      replaced: new Map(),
    };

    // Every location claims the profile in one write (only while it has this currency) before any default is
    // written: a currency change racing this request either comes first (409 here, nothing changed) or is refused.
    const existing = await this.defaults
      .find({ _id: { $in: input.locationIds }, partnerId: actor.partnerId })
      .lean<DefaultBankProfile[]>();
    const plans = input.locationIds.map((locationId) => {
      const current = existing.find((d) => d._id === locationId) ?? null;
      if (input.expectedVersion !== undefined && !defaultVersionMatches(current, input.expectedVersion)) {
        throw Problems.preconditionFailed(current?.version ?? 0);
      }
      return { locationId, current };
    });
    const toClaim = plans.filter((p) => !isTarget(p.current, target)).map((p) => ({ locationId: p.locationId, version: (p.current?.version ?? 0) + 1 }));

    const results: Assigned[] = [];
    try {
      if (toClaim.length) await this.claim(target, toClaim);
      for (const plan of plans) {
        results.push(await this.assign(target, plan.locationId, plan.current, input.expectedVersion));
      }
      return results;
    } catch (error) {
      // A step failed (412 or busy on a retry, 409 on a retry's claim, a database error): the locations written so
      // far stay written; this request's claims for the others would stay pending, so it withdraws them.
      const done = new Set(results.map((r) => r.current.locationId));
      await this.claims.withdraw(target.partnerId, target.bankProfileId, target.token, [...target.claimed].filter((l) => !done.has(l)));
      throw partlyAssigned(error, results);
    } finally {
      // The defaults written so far are committed, with their events, even when a later location failed.
      if (results.some((r) => r.outcome === 'ASSIGNED')) this.outbox.committed();
      // Only now that their defaults moved on: the previous profiles are no longer these locations' default. One write
      // per profile: a location at a time read a large profile's claims (up to one per location) once per location.
      for (const [profileId, upTo] of target.replaced) await this.claims.releaseAfterWrite(target.partnerId, profileId, upTo);
    }
  }

  private async claim(target: Target, claims: Array<{ locationId: string; version: number }>): Promise<void> {
    if (await this.claims.claim(target.partnerId, target.bankProfileId, target.currency, claims, target.token)) {
      for (const { locationId } of claims) target.claimed.add(locationId);
      return;
    }
    // Not claimed: the profile's currency changed meanwhile, or it stopped serving one of the locations.
    const now = await this.bankProfiles.findForPartner(target.partnerId, target.bankProfileId);
    // Its locationIds may have changed meanwhile so that the caller may no longer read it: 403, as its GET now.
    if (now) this.access.bankProfileReader(target.actor, target.bankProfileId, servedLocations(now));
    if (now && now.currency === target.currency) {
      const served = servedLocations(now);
      const notServed = claims.map((c) => c.locationId).filter((locationId) => !serves(served, locationId));
      if (notServed.length) throw locationNotServed(target.bankProfileId, shownLocations(target.actor, served), notServed);
    }
    throw Problems.conflict(
      `Bank profile ${target.bankProfileId} no longer has the currency ${target.currency} (it changed meanwhile); ${claims.map((c) => c.locationId).join(', ')} not assigned.`,
      { errors: [{ field: 'currency', message: 'must be the current currency of the bank profile' }] },
    );
  }

  private async assign(
    target: Target,
    locationId: string,
    read: DefaultBankProfile | null,
    expectedVersion?: number,
  ): Promise<Assigned> {
    const { partnerId, userId, bankProfileId, currency } = target;
    let existing = read;
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) {
        existing = await this.defaults.findOne({ _id: locationId, partnerId }).lean<DefaultBankProfile>();
        if (expectedVersion !== undefined && !defaultVersionMatches(existing, expectedVersion)) {
          throw Problems.preconditionFailed(existing?.version ?? 0);
        }
      }
      if (isTarget(existing, target)) return { outcome: 'UNCHANGED', current: existing! };
      const version = (existing?.version ?? 0) + 1;
      // The first attempt's claim was made with the others; a retry writes another version, which needs its own.
      if (attempt > 1) await this.claim(target, [{ locationId, version }]);
      const data: DefaultBankProfileChange = { partnerId, locationId, bankProfileId, currency, version };
      const event = this.outbox.event(Topics.payoutProfiles, { type: 'DefaultBankProfileAssigned', data, key: locationId });
      const changedAt = this.clock.now();
      const next: DefaultBankProfile = { _id: locationId, locationId, partnerId, bankProfileId, currency, version, changedBy: userId, changedAt };
      let written = false;
      try {
        if (!existing) {
          await this.defaults.create({ ...next, outbox: [event] });
          written = true;
        } else {
          const { matchedCount } = await this.defaults.updateOne(
            { _id: locationId, partnerId, version: existing.version },
            { $set: { bankProfileId, currency, version, changedBy: userId, changedAt }, $push: pushOutbox([event]) },
          );
          written = matchedCount === 1;
        }
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      if (written) {
        // Only now that the default moved on: the previous profile is no longer this location's default (released once the
        // request's writes are done: execute), and this profile's claims of lost attempts are obsolete.
        // Best effort: the change is committed, and obsolete claims are dropped later anyway (DefaultClaims.holders).
        if (existing?.bankProfileId && existing.bankProfileId !== bankProfileId) replacedFrom(target, existing.bankProfileId).set(locationId, version);
        if (attempt > 1) await this.claims.releaseAfterWrite(partnerId, bankProfileId, new Map([[locationId, version - 1]]));
        return { outcome: 'ASSIGNED', current: next, created: !existing?.bankProfileId };
      }
      // Someone else changed this location's default meanwhile: read it again.
      if (attempt >= ATTEMPTS) throw Problems.busy(`The default bank profile of ${locationId} is changing; retry.`);
    }
  }
}

interface Target {
  actor: Actor;
  partnerId: string;
  userId: string;
  bankProfileId: string;
  currency: string;
  /** Names this request's claims (DefaultClaims.claim), so that it withdraws its own only when it fails. */
  token: string;
  /** The locations this request claimed the profile for. */
  claimed: Set<string>;
  /** The profiles whose defaults this request replaced: for each, the locations and the versions written. */
  replaced: Map<string, Map<string, number>>;
}

function replacedFrom(target: Target, profileId: string): Map<string, number> {
  let locations = target.replaced.get(profileId);
  if (!locations) target.replaced.set(profileId, (locations = new Map()));
  return locations;
}

/**
 * The error of a list that failed after some of its locations had this default (written by this request, or found so:
 * by an earlier try of it that wrote them before it failed, or from before), saying so: a problem's answer (stored for its Idempotency-Key,
 * replayed to a retry) names them (`assignedLocationIds`, and its detail), so that the client does not read a 409 as
 * "nothing is assigned". A database error is a 500 that says nothing either way.
 */
function partlyAssigned(error: unknown, results: Assigned[]): unknown {
  const assigned = results.map((r) => r.current.locationId);
  if (!assigned.length || !(error instanceof ProblemException)) return error;
  // The problem thrown for this request only (never a shared one): told in place, its class and headers kept.
  const response = error.getResponse() as { detail?: string };
  response.detail = `${response.detail ?? error.title} ${assigned.join(', ')} ${assigned.length === 1 ? 'has' : 'have'} this default bank profile now, and ${assigned.length === 1 ? 'keeps' : 'keep'} it.`;
  error.extensions.assignedLocationIds = assigned;
  return error;
}

function isTarget(current: DefaultBankProfile | null, target: Target): boolean {
  return !!current && current.bankProfileId === target.bankProfileId && current.currency === target.currency;
}
