import { AccessLocation, AccessPolicy, Actor } from '@lib/access';
import { Principal, Problems, ValidationProblem } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { ALL_LOCATIONS } from '@lib/contracts';
import {
  bankProfileEditBlockers,
  bankProfileServeBlockers,
  canManageBankProfiles,
  canReadBankProfile,
  canReadBankProfiles,
  normalizeLocationIds,
  shownLocations,
} from './permissions';
import { throwIfProblems } from './problems';

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

  /** 403 unless the actor is Incentives admin of every location the profile serves (of every location for '*'). */
  bankProfileServer(actor: Actor, profileId: string, served: string[]): void {
    const missing = bankProfileServeBlockers(actor, served);
    if (missing.length) {
      throw Problems.forbidden(
        `Bank profile ${profileId} serves ${describeLocationsFor(actor, served)}: only an Incentives admin of each of them can change it, ` +
          `and you are not Incentives admin of ${describeLocationsFor(actor, missing)}.`,
      );
    }
  }

  /**
   * The locations a bank profile is to serve (`locationIds` of a create or a change), in their stored form: 400 naming
   * `locationIds` for a malformed list or a location that is not the partner's (as identity answers a role on one;
   * before any 403, and another partner's location reads exactly like an unknown one), 403 naming those the actor is
   * not Incentives admin of.
   */
  async servableLocations(actor: Actor, requested: string[]): Promise<string[]> {
    const { locationIds, problems } = normalizeLocationIds(requested);
    throwIfProblems(problems);
    await this.ownLocations(actor, locationIds, 'A bank profile can only serve locations of your own partner.');
    const missing = bankProfileServeBlockers(actor, locationIds);
    if (missing.length) {
      throw Problems.forbidden(
        `Only an Incentives admin of a location can have a bank profile serve it; you are not Incentives admin of ${describeLocations(missing)}.`,
      );
    }
    return locationIds;
  }

  /** 403 unless the actor may read the profile (canReadBankProfile): it serves none of the locations they hold a role on. */
  bankProfileReader(actor: Actor, profileId: string, served: string[]): void {
    if (!canReadBankProfile(actor, served)) {
      throw Problems.forbidden(`Bank profile ${profileId} serves none of the locations you hold an incentives role on.`);
    }
  }

  /** 403 unless the actor is Incentives admin of every location the profile is default for. */
  bankProfileEditor(actor: Actor, profileId: string, defaultOf: string[]): void {
    const missing = bankProfileEditBlockers(actor, defaultOf);
    if (missing.length) {
      throw Problems.forbidden(
        `Bank profile ${profileId} is the default bank profile of ${describeLocationsFor(actor, defaultOf)}: only an Incentives ` +
          `admin of each of them can edit it, and you are not Incentives admin of ${describeLocationsFor(actor, missing)}.`,
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

  /**
   * Every location must be the caller's to administer; checked for all before anything changes. Named in the body
   * (`locationIds`): 400 naming `locationIds` for `*` and for those not of the partner (ownLocations); in the path: 404, as every
   * location route answers. Then 403 naming the role.
   */
  async locationsAdmin(principal: Principal, locationIds: string[], action: string, namedIn: 'path' | 'body'): Promise<Actor> {
    const actor = await this.policy.actor(principal);
    if (namedIn === 'body') {
      // A default is a location's: `*` (every location, as a bank profile's locationIds may say) names none.
      if (locationIds.includes(ALL_LOCATIONS)) throw new ValidationProblem([{ field: 'locationIds', message: `"${ALL_LOCATIONS}" is no location: name each one` }]);
      await this.ownLocations(actor, locationIds, 'Defaults can only be set on locations of your own partner.');
    }
    for (const locationId of locationIds) await this.policy.requireRole(actor, locationId, 'INCENTIVES_ADMIN', action);
    return actor;
  }

  /**
   * 400 naming `locationIds` for the locations a body names that are not the partner's: another partner's reads exactly
   * like an unknown one (as identity answers a role on one), and before any 403.
   */
  private async ownLocations(actor: Actor, locationIds: string[], detail: string): Promise<void> {
    const named = locationIds.filter((locationId) => locationId !== ALL_LOCATIONS);
    const found = await Promise.all(named.map((locationId) => this.policy.locationOf(actor.partnerId, locationId)));
    const unknown = named.filter((_, i) => !found[i]);
    if (unknown.length) {
      throw new ValidationProblem([{ field: 'locationIds', message: `unknown location(s) for your partner: ${unknown.join(', ')}` }], detail);
    }
  }

  async locationReader(principal: Principal, locationId: string): Promise<{ actor: Actor; location: AccessLocation }> {
    const actor = await this.policy.actor(principal);
    const location = await this.policy.requireView(actor, locationId);
    return { actor, location };
  }

  /** The locations whose payout data the caller may read; 403 for a caller without any payout-related role. */
  /** `locationIds`: null when the caller may read every location of their partner (AccessPolicy.visibleLocationIds). */
  async visibleLocations(principal: Principal): Promise<{ actor: Actor; locationIds: string[] | null }> {
    const actor = await this.policy.reader(principal);
    return { actor, locationIds: await this.policy.visibleLocationIds(actor) };
  }
}

/** `L1, L3`, or what `*` means. */
export function describeLocations(locationIds: string[]): string {
  return locationIds.includes(ALL_LOCATIONS) ? 'every location of your partner (*)' : `location(s) ${locationIds.join(', ')}`;
}

/**
 * describeLocations, naming only the locations the actor holds a role on (shownLocations: users see data only of
 * their locations, SPEC 1) and counting the others.
 */
function describeLocationsFor(actor: Actor, locationIds: string[]): string {
  const shown = shownLocations(actor, locationIds);
  const others = locationIds.length - shown.length;
  const parts = [...(shown.length ? [describeLocations(shown)] : []), ...(others ? [`${others} location(s) you hold no role on`] : [])];
  return parts.join(' and ');
}
