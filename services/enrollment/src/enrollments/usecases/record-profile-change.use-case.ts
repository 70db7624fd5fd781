import { payoutRulesFor, ProfileEvent } from '@lib/contracts';
import { allDone, Clock } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ViewsRepository } from '../../views/views.repository';
import { Enrollment } from '../enrollment.schema';
import { EnrollmentsRepository, watchesProfile } from '../enrollments.repository';
import { PayoutFacts, profileFacts } from '../payout-facts';
import { EnrollLocation } from './enroll-location.use-case';
import { FollowValidation } from './follow-validation.use-case';
import { WithdrawBankChoice } from './withdraw-bank-choice.use-case';

const ATTEMPTS = 8;
/** Enrollments following one profile event at the same time (as the rollover's and the program sweeps' chunks). */
const FOLLOWING_AT_ONCE = 32;

/**
 * A bank or tax profile event: the profile view keeps the newest state; then every submitted enrollment using that
 * profile follows it (Validating again after an edit, Enrolled once approved, Action required when rejected), every
 * started proposal proposing it (or, a tax profile, of its location) is evaluated again as Continue would; so,
 * for a tax profile, does every submitted enrollment of its location that has no tax profile (its program may require
 * one since it was submitted: FollowValidation takes the location's up); and every enrollment keeping a bank profile
 * that no longer serves its location (chosen by its admin, or in use since Submit) has it withdrawn (WithdrawBankChoice: ACTION_REQUIRED with the reason, Continue proposes the default).
 * Both are decided from the view, never from the event: a late or replayed older event, which the view ignores,
 * decides nothing. Replays and duplicates change nothing: the view ignores older ranks and versions, each enrollment
 * write is guarded, and a withdrawn enrollment keeps no bank profile any more.
 */
@Injectable()
export class RecordProfileChange {
  constructor(
    private readonly views: ViewsRepository,
    private readonly enrollments: EnrollmentsRepository,
    private readonly programs: ReadPrograms,
    private readonly follow: FollowValidation,
    private readonly facts: PayoutFacts,
    private readonly withdraw: WithdrawBankChoice,
    private readonly enroll: EnrollLocation,
    private readonly clock: Clock,
  ) {}

  async execute(event: ProfileEvent, occurredAt: Date, heartbeat?: () => Promise<void>): Promise<number> {
    await this.views.recordProfile(event, occurredAt);
    // Even when the view was already up to date: a crash may have fallen between the view and the enrollments.
    return this.followEnrollmentsOf(event, heartbeat);
  }

  /**
   * The enrollments the profile concerns follow it as the view has it now (also a tax profile that expired, with no
   * event: FollowExpiredTaxProfiles), read as a stream, FOLLOWING_AT_ONCE at a time (each enrollment its own guarded
   * writes: a profile serving every location of a large partner is used by thousands, each a few round trips);
   * `heartbeat` (the consumer's) before each group, so that such a profile keeps the consumer in its group while they
   * follow it. How many changed.
   */
  async followEnrollmentsOf(event: ProfileRef, heartbeat?: () => Promise<void>): Promise<number> {
    const concerned = (e: Enrollment) => watchesProfile(e, event.profileKind, this.clock.now()) && usesProfile(e, event);
    let changed = 0;
    const followGroup = async (group: Enrollment[]) => {
      await heartbeat?.();
      changed += (await allDone(group.map((candidate) => this.followOne(candidate, event, concerned)))).filter(Boolean).length;
    };
    const stream = this.enrollments.ofProfile(event, this.clock.now());
    try {
      let group: Enrollment[] = [];
      for await (const candidate of stream) {
        if (!concerned(candidate)) continue;
        group.push(candidate);
        if (group.length === FOLLOWING_AT_ONCE) {
          await followGroup(group);
          group = [];
        }
      }
      if (group.length) await followGroup(group);
    } finally {
      // Left early (a failure, a shutdown): the server's cursor goes now, not after its idle timeout.
      await stream.close().catch(() => undefined);
    }
    return changed;
  }

  /** One enrollment follows the profile; whether it changed. */
  private async followOne(candidate: Enrollment, event: ProfileRef, concerned: (e: Enrollment) => boolean): Promise<boolean> {
    for (let attempt = 1, current = candidate; attempt <= ATTEMPTS; attempt++) {
      const written = await this.settle(current);
      if (written) return written !== current;
      // Changed meanwhile: decide again only if the profile still concerns it (an ineligible decision or the
      // discontinue sweep may have ended it, which keep submittedAt; Continue may have chosen another profile).
      const fresh = await this.enrollments.findById(current._id);
      if (!fresh || !concerned(fresh)) return false;
      current = fresh;
    }
    throw new Error(`enrollment ${candidate._id} kept changing while it followed profile ${event.profileId}`);
  }

  /**
   * Follows validation (submitted); a proposal has a chosen bank profile that no longer serves withdrawn, and is
   * otherwise evaluated again as Continue would (EnrollLocation.reevaluate).
   */
  private async settle(current: Enrollment): Promise<Enrollment | null> {
    if (current.submittedAt) {
      const program = await this.programs.find(current.programId);
      return program ? this.follow.apply(current, payoutRulesFor(program, current.fiscalYear)) : current;
    }
    const bank = current.bankProfileId ? await this.facts.bankProfile(current.partnerId, current.bankProfileId) : null;
    const withdrawn = await this.withdraw.apply(current, profileFacts(bank));
    return withdrawn === current ? this.enroll.reevaluate(current) : withdrawn;
  }
}

/** A profile as the enrollments it concerns are found by. */
export type ProfileRef = Pick<ProfileEvent, 'partnerId' | 'profileKind' | 'profileId' | 'locationId'>;

/** Still concerned by the event: it uses the profile, or (a tax profile) its location's enrollment has none yet. */
function usesProfile(e: Enrollment, event: ProfileRef): boolean {
  if (event.profileKind === 'TAX' && !e.taxProfileId && e.locationId === event.locationId) return true;
  return (event.profileKind === 'BANK' ? e.bankProfileId : e.taxProfileId) === event.profileId;
}
