import { AccessLocation, AccessPolicy, Actor } from '@lib/access';
import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { bankProfileEditBlockers, canManageBankProfiles, canReadBankProfiles } from './permissions';

/**
 * Who may do what with payout data, on top of the shared policy. Tenancy first: another partner's location or
 * profile answers 404 (callers look resources up with the actor's partnerId), a missing role 403.
 */
@Injectable()
export class PayoutAccess {
  constructor(private readonly policy: AccessPolicy) {}

  async bankManager(principal: Principal): Promise<Actor> {
    const actor = await this.policy.actor(principal);
    if (!canManageBankProfiles(actor)) {
      throw Problems.forbidden('Only an Incentives admin of one of your locations can create or edit bank profiles.');
    }
    return actor;
  }

  /** 403 unless the actor is Incentives admin of every location the profile is default for. */
  bankProfileEditor(actor: Actor, profileId: string, defaultOf: string[]): void {
    const missing = bankProfileEditBlockers(actor, defaultOf);
    if (missing.length) {
      throw Problems.forbidden(
        `Bank profile ${profileId} is the default bank profile of location(s) ${defaultOf.join(', ')}: only an Incentives ` +
          `admin of each of them can edit it, and you are not Incentives admin of ${missing.join(', ')}.`,
      );
    }
  }

  async bankReader(principal: Principal): Promise<Actor> {
    const actor = await this.policy.actor(principal);
    if (!canReadBankProfiles(actor)) {
      throw Problems.forbidden('Reading bank profiles needs an incentives role or a company admin role.');
    }
    return actor;
  }

  /** The location's Incentives admin: edits its tax profile and default bank profile. */
  async locationAdmin(principal: Principal, locationId: string, action: string): Promise<{ actor: Actor; location: AccessLocation }> {
    const actor = await this.policy.actor(principal);
    const location = await this.policy.requireRole(actor, locationId, 'INCENTIVES_ADMIN', action);
    return { actor, location };
  }

  /** Every location must be the caller's to administer; checked for all before anything changes. */
  async locationsAdmin(principal: Principal, locationIds: string[], action: string): Promise<Actor> {
    const actor = await this.policy.actor(principal);
    for (const locationId of locationIds) await this.policy.requireRole(actor, locationId, 'INCENTIVES_ADMIN', action);
    return actor;
  }

  async locationReader(principal: Principal, locationId: string): Promise<{ actor: Actor; location: AccessLocation }> {
    const actor = await this.policy.actor(principal);
    const location = await this.policy.requireView(actor, locationId);
    return { actor, location };
  }

  /** The locations whose payout data the caller may read; 403 for a caller without any payout-related role. */
  async visibleLocations(principal: Principal): Promise<{ actor: Actor; locationIds: string[] }> {
    const actor = await this.policy.actor(principal);
    if (!canReadBankProfiles(actor)) throw Problems.forbidden('You hold no incentives role and no company admin role.');
    const locations = await this.policy.visibleLocations(actor);
    return { actor, locationIds: locations.map((l) => l._id) };
  }
}
