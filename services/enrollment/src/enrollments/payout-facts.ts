import { ProblemException, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { ViewsRepository } from '../views/views.repository';
import { ProfileView, servesLocation } from '../views/views.schemas';
import { ProfileFacts } from './enrollment-rules';

export function profileFacts(view: ProfileView | null | undefined): ProfileFacts | undefined {
  if (!view) return undefined;
  return {
    profileId: view._id,
    partnerId: view.partnerId,
    status: view.status,
    revision: view.revision,
    reasons: view.reasons ?? [],
    currency: view.currency,
    paymentMethod: view.paymentMethod,
    ...(view.expiresAt && { expiresAt: new Date(view.expiresAt) }),
    ...(view.decidedAt && { decidedAt: new Date(view.decidedAt) }),
    ...(view.name !== undefined && { name: view.name }),
    ...(view.kind === 'BANK' && { locationIds: view.locationIds ?? null }),
  };
}

export interface Proposal {
  bankProfileId?: string;
  taxProfileId?: string;
  bank?: ProfileFacts;
  tax?: ProfileFacts;
  /** The location's default and its profile's locations disagree, and one of them changed just now (see proposal). */
  defaultSettling?: boolean;
}

/** How long a default and its profile may disagree about the location before the default counts as gone. */
export const DEFAULT_SETTLE_MS = 30_000;

/** 409 busy for a proposal whose default is settling: nothing is written; the caller tries again in a moment. */
export function defaultSettling(): ProblemException {
  return Problems.busy(
    "The location's default bank profile is changing (payout-profiles' events about it are still arriving); try again in a moment.",
  ).retryAfter(2);
}

/** Resolves a location's proposal from the profile views: the chosen or default bank profile, the tax profile. */
@Injectable()
export class PayoutFacts {
  constructor(private readonly views: ViewsRepository) {}

  /**
   * The location's default is proposed only while its profile serves the location. payout-profiles makes a profile a
   * location's default only if it serves the location (in the profile's currency), and refuses to narrow a profile
   * away from a location it is the default of, or to change its currency, while it is (the default is removed first);
   * but the default's events (keyed by location) and the profile's (keyed by partner) travel on different keys, so for
   * a moment the views may disagree either way: a narrowing arrived before the default's removal, or a default
   * assigned before the widening that made it possible (or before the profile's first event), or in a currency the
   * profile's newest event has not brought yet. Within DEFAULT_SETTLE_MS of the newer of the two changes the answer is
   * `defaultSettling` (the caller answers 409 busy with Retry-After, writing nothing: neither a proposal of a profile
   * the location may not use, or judged in its former currency, nor an ACTION_REQUIRED with its email for a default
   * about to serve it). After that, a default whose profile does not serve the location is not proposed
   * (BANK_PROFILE_MISSING), as once the removal arrives; one in another currency than its profile's is proposed as the
   * profile is. A chosen profile is the caller's to check (bankNoLongerServes). `now` is the real time (events
   * travelling), not the Clock's.
   */
  async proposal(partnerId: string, locationId: string, chosenBankProfileId?: string, now = new Date()): Promise<Proposal> {
    const defaultView = chosenBankProfileId ? null : await this.views.defaultBankProfile(partnerId, locationId);
    const bankProfileId = chosenBankProfileId ?? defaultView?.bankProfileId ?? undefined;
    const [bank, tax] = await Promise.all([
      bankProfileId ? this.views.profile(partnerId, bankProfileId, 'BANK') : Promise.resolve(null),
      this.views.taxProfileOfLocation(partnerId, locationId),
    ]);
    const taxFacts = { taxProfileId: tax?._id, tax: profileFacts(tax) };
    // A default whose profile the view does not know yet (its events, on another key, are behind), or that does not
    // serve the location: settling for a moment after the newer change this service recorded (its own clock on both
    // sides), then not proposed.
    if (!defaultView) return { bankProfileId, bank: profileFacts(bank), ...taxFacts };
    const changed = Math.max(+(defaultView.receivedAt ?? defaultView.changedAt), bank ? +bank.updatedAt : 0);
    const settling = +now - changed < DEFAULT_SETTLE_MS;
    if (!bank || !servesLocation(bank, locationId)) return { ...taxFacts, ...(settling && { defaultSettling: true }) };
    if (settling && typeof defaultView.currency === 'string' && defaultView.currency !== bank.currency) return { ...taxFacts, defaultSettling: true };
    return { bankProfileId, bank: profileFacts(bank), ...taxFacts };
  }

  /**
   * The profiles a submitted enrollment uses. `taxOfLocation`: the enrollment has no tax profile (submitted while its
   * program required none) and its program requires one now: the location's tax profile, if it has one, is the one it
   * goes on with (as Enroll and Submit would propose it).
   */
  async inUse(
    partnerId: string,
    bankProfileId?: string,
    taxProfileId?: string,
    taxOfLocation?: string,
  ): Promise<{ bank?: ProfileFacts; tax?: ProfileFacts }> {
    const [bank, tax] = await Promise.all([
      bankProfileId ? this.views.profile(partnerId, bankProfileId, 'BANK') : Promise.resolve(null),
      taxProfileId
        ? this.views.profile(partnerId, taxProfileId, 'TAX')
        : taxOfLocation
          ? this.views.taxProfileOfLocation(partnerId, taxOfLocation)
          : Promise.resolve(null),
    ]);
    return { bank: profileFacts(bank), tax: profileFacts(tax) };
  }

  /** A bank profile of the partner as last published (null: unknown, or another partner's). */
  async bankProfile(partnerId: string, bankProfileId: string): Promise<ProfileView | null> {
    return this.views.profile(partnerId, bankProfileId, 'BANK');
  }
}
