import { AgreementStatusChanged, decisionFor, decisionReasons, DefaultBankProfileChange, EligibilityDetermined, keepDecision, KeptDecisions, LogPosition, ProfileEvent } from '@lib/contracts';
import { BatchLoader, findByIds, modelLoader, upsertIfChanged, upsertIfNewer } from '@lib/messaging';
import { Keyset } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { eligibilityId } from '../common/ids';
import { partnersDecision } from '../enrollments/enrollment-rules';
import { agreementStatuses, withAgreementStatus } from './agreement-status';
import { AgreementStatus, AgreementView, DefaultBankProfileView, EligibilityView, LocationTaxProfileView, ProfileView, YearDecision } from './views.schemas';

/** The order the tax profiles that expired are followed in (FollowExpiredTaxProfiles): by date, then id. */
export const TAX_EXPIRY_ORDER = new Keyset<ProfileView>('tax-expiry', ['expiresAt', '_id'], { dates: ['expiresAt'] });

/** This service's views of facts owned elsewhere: eligibility, agreements, payout profiles, default bank profiles. */
@Injectable()
export class ViewsRepository {
  constructor(
    @InjectModel(EligibilityView.name) readonly eligibilityModel: Model<EligibilityView>,
    @InjectModel(AgreementView.name) readonly agreementModel: Model<AgreementView>,
    @InjectModel(ProfileView.name) readonly profileModel: Model<ProfileView>,
    @InjectModel(DefaultBankProfileView.name) readonly defaultModel: Model<DefaultBankProfileView>,
    @InjectModel(LocationTaxProfileView.name) readonly locationTaxModel: Model<LocationTaxProfileView>,
  ) {
    this.locationTaxLoader = modelLoader(this.locationTaxModel);
    this.eligibilityLoader = modelLoader(this.eligibilityModel);
    this.profileLoader = modelLoader(this.profileModel);
    this.defaultLoader = modelLoader(this.defaultModel);
  }

  // Concurrent reads by id (requests, handlers) share one query per view; nothing is cached.
  private readonly eligibilityLoader: BatchLoader<string, EligibilityView>;
  private readonly profileLoader: BatchLoader<string, ProfileView>;
  private readonly defaultLoader: BatchLoader<string, DefaultBankProfileView>;
  private readonly locationTaxLoader: BatchLoader<string, LocationTaxProfileView>;

  /**
   * Keeps the year's decision as `keepDecision` says (a later one wins; while the location is not known, another
   * partner's is set aside in the year's `others` rather than lost; once it is known as the decision's partner's, that
   * partner's latest wins). Returns whether this decision is now the one that counts for its partner (`current`), and
   * whether the view held a decision for the year before it (`followsAnother`: a first decision changes no enrollment
   * back, see ReopenInvitation).
   */
  async recordDecision(
    decision: EligibilityDetermined,
    decidedAt: Date,
    eventId: string,
    ownerConfirmed = false,
    position?: LogPosition,
  ): Promise<{ current: boolean; followsAnother: boolean }> {
    const fiscalYear = decision.fiscalYear;
    const incoming: YearDecision & { partnerId: string } = {
      eligible: decision.eligible,
      reasons: decisionReasons(decision.reasons),
      decidedAt,
      eventId,
      partnerId: decision.partnerId,
      ...(position && { position }),
    };
    let followsAnother = false;
    const written = await upsertIfChanged<EligibilityView>(this.eligibilityModel.collection, eligibilityId(decision.programId, decision.locationId), (stored) => {
      followsAnother = stored?.years?.[fiscalYear] !== undefined;
      const next = keepDecision(keptDecisionsOf(stored?.years?.[fiscalYear]), incoming, ownerConfirmed);
      // The document's partner: the one the kept decision named (one set aside does not change it).
      return next && { programId: decision.programId, locationId: decision.locationId, partnerId: next.kept.partnerId ?? stored?.partnerId ?? decision.partnerId, [`years.${fiscalYear}`]: yearOf(next) };
    });
    const year = written?.[`years.${fiscalYear}`] as YearDecision | undefined;
    return { current: decisionFor(year, year?.others, decision.partnerId)?.eventId === eventId, followsAnother };
  }

  /**
   * The decision that counts for the partner's enrollment of the location in that year (partnersDecision): one naming
   * another partner never does.
   */
  async partnersEligibility(partnerId: string, programId: string, locationId: string, fiscalYear: string): Promise<YearDecision | undefined> {
    const view = await this.eligibilityLoader.load(eligibilityId(programId, locationId));
    return partnersDecision(view?.years, fiscalYear, partnerId);
  }

  /**
   * Records a status of the partner's agreement among those the view keeps (withAgreementStatus): by `changedAt` (the
   * event's occurredAt), then, at the same instant (an outside system stamping to the second), by where it was read
   * (`position`), as the eligibility decisions: a redelivered earlier change does not undo a later one of the same
   * instant, and one that arrives after a later one takes its place among the earlier statuses (the rollover reads
   * the status as a year began). Returns whether it is now the partner's current status.
   */
  async recordAgreement({ partnerId, active }: AgreementStatusChanged, changedAt: Date, position?: LogPosition): Promise<boolean> {
    const status: AgreementStatus = { active, changedAt, ...(position && { position }) };
    let current = false;
    await upsertIfChanged<AgreementView>(this.agreementModel.collection, partnerId, (stored) => {
      const statuses = withAgreementStatus(stored ? agreementStatuses(stored) : [], status);
      current = statuses?.[0] === status;
      if (!statuses) return null;
      const [now, ...earlier] = statuses;
      return { active: now.active, changedAt: now.changedAt, position: now.position ?? null, earlier };
    });
    return current;
  }

  /**
   * Keeps the newest state of a profile (see ProfileView.rank, version), and when its revision was decided (`decidedAt`:
   * the event's own, when the back office decided, which may come before the event; else its `occurredAt`). Returns
   * whether this event changed the view.
   */
  async recordProfile(event: ProfileEvent, occurredAt: Date): Promise<boolean> {
    const decided = event.status !== 'PENDING_VALIDATION';
    const rank = event.revision * 2 + (decided ? 1 : 0);
    if (event.profileKind === 'TAX' && event.locationId !== undefined) {
      // On every event of the profile, before the profile itself: a crash in between, and the redelivery (which
      // finds the profile already written) still links the location.
      await this.locationTaxModel.collection.updateOne(
        { _id: event.locationId } as never,
        { $set: { partnerId: event.partnerId, profileId: event.profileId } },
        { upsert: true },
      );
    }
    const version = event.version;
    // Same rank: a later version of the profile (its locationIds changed) replaces; the same event again does not.
    const replaces = (stored: ProfileView) => stored.rank < rank || (stored.rank === rank && version !== undefined && (stored.version ?? 0) < version);
    const written = await upsertIfChanged<ProfileView>(this.profileModel.collection, event.profileId, (stored) => {
      if (stored && !replaces(stored)) return null;
      // A later version of the same rank leaves the revision's decision as it was, and when it was made.
      const decidedAt = stored?.rank === rank ? (stored.decidedAt ?? null) : decided ? (event.decidedAt ? new Date(event.decidedAt) : occurredAt) : null;
      return {
        kind: event.profileKind,
        partnerId: event.partnerId,
        ...(event.locationId !== undefined && { locationId: event.locationId }),
        revision: event.revision,
        rank,
        status: event.status,
        reasons: event.reasons ?? [],
        ...(event.name !== undefined && { name: event.name }),
        ...(event.currency !== undefined && { currency: event.currency }),
        ...(event.paymentMethod !== undefined && { paymentMethod: event.paymentMethod }),
        ...(event.expiresAt !== undefined && { expiresAt: new Date(event.expiresAt) }),
        // The newest event decides, also when it does not say (written before locationIds: serves every location).
        ...(event.profileKind === 'BANK' && { locationIds: event.locationIds ?? null }),
        ...(version !== undefined && { version }),
        decidedAt,
        updatedAt: new Date(),
      };
    });
    return written !== null;
  }

  /** A profile of the partner (another partner's profile is not found). */
  async profile(partnerId: string, profileId: string, kind: 'BANK' | 'TAX'): Promise<ProfileView | null> {
    const profile = await this.profileLoader.load(profileId);
    return profile && profile.partnerId === partnerId && profile.kind === kind ? profile : null;
  }

  /** The tax profile of a location: two lookups by `_id` (the location's link, then the profile). */
  async taxProfileOfLocation(partnerId: string, locationId: string): Promise<ProfileView | null> {
    const link = await this.locationTaxLoader.load(locationId);
    if (!link || link.partnerId !== partnerId) return null;
    return this.profile(partnerId, link.profileId, 'TAX');
  }

  /** Keeps the newest assignment (`newerDefault`); the same version again changes nothing. */
  async recordDefaultAssigned({ partnerId, locationId, bankProfileId, currency, version }: DefaultBankProfileChange, changedAt: Date): Promise<void> {
    await upsertIfNewer<DefaultBankProfileView>(this.defaultModel.collection, locationId, {
      // The same change again (an older producer's event without a version, consumed again: a replay) keeps when it was
      // received: a new receivedAt made a default whose profile the view does not know read as settling (409 busy).
      replaces: (stored) =>
        newerDefault(stored, version, changedAt) &&
        !(+stored.changedAt === +changedAt && stored.bankProfileId === bankProfileId && stored.currency === currency && (stored.version ?? null) === (version ?? null)),
      set: { partnerId, bankProfileId, currency, changedAt, version: version ?? null, receivedAt: new Date() },
    });
  }

  /**
   * Removes the default only if nothing newer is held: with versions, whatever older version is held (the removed
   * profile was the default just before this removal, so an older one, of any profile, is gone too) and never a later
   * assignment; without, only if it is still that profile and not a later change by occurredAt. Nothing stored yet:
   * the removal is kept (a tombstone, with its version), so that an older assignment, delivered late, does not bring
   * it back.
   */
  async recordDefaultRemoved({ partnerId, locationId, bankProfileId, version }: DefaultBankProfileChange, changedAt: Date): Promise<void> {
    await upsertIfNewer<DefaultBankProfileView>(this.defaultModel.collection, locationId, {
      replaces: (stored) =>
        stored.partnerId === partnerId && newerDefault(stored, version, changedAt) && (versioned(stored, version) || stored.bankProfileId === bankProfileId),
      set: { partnerId, bankProfileId: null, changedAt, version: version ?? null },
    });
  }

  /** The location's default as the view holds it (with when it changed), or null without one. */
  async defaultBankProfile(partnerId: string, locationId: string): Promise<DefaultBankProfileView | null> {
    const current = await this.defaultLoader.load(locationId);
    return current && current.partnerId === partnerId && current.bankProfileId ? current : null;
  }

  // Batch lookups for the rollover: a few queries per view per batch, never one per enrollment.
  async eligibilityByIds(ids: string[]): Promise<Map<string, EligibilityView>> {
    return findByIds<EligibilityView>(this.eligibilityModel.collection as never, ids, { years: 1 });
  }

  /** Whether the partner's agreement is active: as the rollover reads it, one never heard of is (renewal-rules). */
  async agreementActive(partnerId: string): Promise<boolean> {
    const agreement = await this.agreementModel.findById(partnerId, { active: 1 }).lean<Pick<AgreementView, 'active'>>();
    return agreement?.active !== false;
  }

  async agreementsByPartner(partnerIds: string[]): Promise<Map<string, AgreementView>> {
    return findByIds<AgreementView>(this.agreementModel.collection as never, partnerIds, { active: 1, changedAt: 1, position: 1, earlier: 1 });
  }

  /** The tax profile of each location (its id and partner), by location id. */
  async locationTaxProfilesByIds(locationIds: string[]): Promise<Map<string, LocationTaxProfileView>> {
    return findByIds<LocationTaxProfileView>(this.locationTaxModel.collection as never, locationIds, { partnerId: 1, profileId: 1 });
  }

  /**
   * Tax profiles whose expiry date is in (`from`, `to`], a page in TAX_EXPIRY_ORDER after `cursor` (that order's
   * cursorOf the last of the previous page).
   */
  async taxProfilesExpiring(from: Date, to: Date, limit: number, cursor?: string): Promise<ProfileView[]> {
    const query = { kind: 'TAX' as const, expiresAt: { $gt: from, $lte: to }, ...TAX_EXPIRY_ORDER.after(cursor) };
    return this.profileModel.find(query).sort(TAX_EXPIRY_ORDER.sort).limit(limit).lean<ProfileView[]>();
  }

  async profilesByIds(ids: string[]): Promise<Map<string, ProfileView>> {
    // `name`: for the reason when a bank profile no longer serves an enrollment's location.
    return findByIds<ProfileView>(this.profileModel.collection as never, ids, { updatedAt: 0, rank: 0 });
  }
}

/** A year of the eligibility view as `keepDecision` reads it: the decision kept, and the others set aside in it. */
function keptDecisionsOf(year: YearDecision | undefined): KeptDecisions<YearDecision> | undefined {
  if (!year) return undefined;
  const { others = [], ...kept } = year;
  return { kept, others };
}

/** The year as stored: the kept decision with the others set aside in it (none: no field). */
function yearOf({ kept, others }: KeptDecisions<YearDecision>): YearDecision {
  return { ...kept, ...(others.length && { others }) };
}

/** Whether the view and the event both carry the default's version (events written before it existed do not). */
function versioned(stored: DefaultBankProfileView, version: number | undefined): version is number {
  return typeof stored.version === 'number' && version !== undefined;
}

/**
 * Whether a change of a location's default is newer than the one the view holds: by the default's version when both
 * have one (payout-profiles increments it on every assignment and removal, whichever of its processes writes, so the
 * same version again is the same change), by occurredAt otherwise (the writing process's clock, which two processes
 * may not agree on).
 */
function newerDefault(stored: DefaultBankProfileView, version: number | undefined, changedAt: Date): boolean {
  return versioned(stored, version) ? (stored.version as number) < version : +stored.changedAt <= +changedAt;
}
