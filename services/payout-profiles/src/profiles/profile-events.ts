import { ProfileEvent, ProfileEventType, ProfileValidationRequested, Topics } from '@lib/contracts';
import { EventOutbox, OutboxEntry } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import type { BankProfile } from '../bank-profiles/bank-profile.schema';
import type { TaxProfile } from '../tax-profiles/tax-profile.schema';
import { publicReasons } from '../secrets/masking';
import { servedLocations } from './permissions';
import { detailsPath } from './profile.parts';

/** A revision's lifecycle events but its submission (written with its validation request: newRevision). */
type LifecycleEventType = Exclude<ProfileEventType, 'ProfileSubmittedForValidation'>;


/**
 * When the current revision was decided, on every event of a decided revision: its decision's, and a later change of
 * the same revision's (a bank profile's locationIds), which a consumer may see first (the decision's event dead-lettered
 * and replayed later) and would otherwise date the decision by.
 */
function decision(p: BankProfile | TaxProfile): Pick<ProfileEvent, 'decidedAt'> {
  return p.status !== 'PENDING_VALIDATION' && p.decidedAt ? { decidedAt: new Date(p.decidedAt).toISOString() } : {};
}

/**
 * The public face of a bank profile in events: what enrollment and notification need, and no secret. `locationIds`
 * (which enrollment checks a chosen profile against) is `['*']` for a profile stored before it existed; `version`
 * orders the events of one revision (a change of `locationIds` alone is not a new revision).
 */
export function bankProfileEvent(p: BankProfile): ProfileEvent {
  return {
    profileId: p._id,
    profileKind: 'BANK',
    partnerId: p.partnerId,
    revision: p.revision,
    status: p.status,
    reasons: publicReasons(p.reasons),
    name: p.name,
    country: p.country,
    currency: p.currency,
    paymentMethod: p.paymentMethod,
    maskedAccount: p.maskedAccount,
    locationIds: servedLocations(p),
    version: p.version,
    ...decision(p),
  };
}

/** The public face of a tax profile in events: location, status, revision and expiry; never the tax ids. */
export function taxProfileEvent(p: TaxProfile): ProfileEvent {
  return {
    profileId: p._id,
    profileKind: 'TAX',
    partnerId: p.partnerId,
    locationId: p.locationId,
    revision: p.revision,
    status: p.status,
    reasons: publicReasons(p.reasons),
    name: p.businessProfile.legalName,
    country: p.incorporationCountry,
    expiresAt: new Date(p.expiresAt).toISOString(),
    ...decision(p),
  };
}

/**
 * Builds the outbox entries of profile changes. Bank profile events are keyed by partner, tax profile events by
 * location (the enrollment of a location sees its tax profile's events in order).
 */
@Injectable()
export class ProfileEvents {
  constructor(private readonly outbox: EventOutbox) {}

  private describe(kind: 'BANK' | 'TAX', profile: BankProfile | TaxProfile): { data: ProfileEvent; key: string } {
    return kind === 'BANK'
      ? { data: bankProfileEvent(profile as BankProfile), key: profile.partnerId }
      : { data: taxProfileEvent(profile as TaxProfile), key: (profile as TaxProfile).locationId };
  }

  /** One lifecycle event on payout-profiles.events.v1. */
  lifecycle(kind: 'BANK' | 'TAX', type: LifecycleEventType, profile: BankProfile | TaxProfile): OutboxEntry {
    const { data, key } = this.describe(kind, profile);
    return this.outbox.event(Topics.payoutProfiles, { type, data, key });
  }

  /**
   * A new revision: created/updated, submitted for validation, and the validation request for the back office,
   * which reads the details (secrets included) from the operator API at `detailsPath`.
   */
  newRevision(kind: 'BANK' | 'TAX', type: 'ProfileCreated' | 'ProfileUpdated', profile: BankProfile | TaxProfile): OutboxEntry[] {
    const { data, key } = this.describe(kind, profile);
    // The back office validates the account, not who may use it: its request is what it was before locationIds.
    const { locationIds: _served, version: _version, ...described } = data;
    const request: ProfileValidationRequested = { ...described, detailsPath: detailsPath(profile._id) };
    return [
      this.outbox.event(Topics.payoutProfiles, { type, data, key }),
      this.outbox.event(Topics.payoutProfiles, { type: 'ProfileSubmittedForValidation', data, key }),
      this.outbox.event(Topics.validationRequests, { type: 'ProfileValidationRequested', data: request, key: profile.partnerId }),
    ];
  }

  committed(): void {
    this.outbox.committed();
  }
}
