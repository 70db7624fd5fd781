import { ProfileEvent } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ViewsRepository } from '../../views/views.repository';
import { FOLLOWING_VALIDATION } from '../enrollment-rules';
import { EnrollmentsRepository } from '../enrollments.repository';
import { FollowValidation } from './follow-validation.use-case';

const ATTEMPTS = 8;

/**
 * A bank or tax profile event: the profile view keeps the newest state; then every submitted enrollment using that
 * profile follows it (Validating again after an edit, Enrolled once approved, Action required when rejected).
 * Replays and duplicates change nothing: the view ignores older ranks and each enrollment write is guarded.
 */
@Injectable()
export class RecordProfileChange {
  constructor(
    private readonly views: ViewsRepository,
    private readonly enrollments: EnrollmentsRepository,
    private readonly programs: ReadPrograms,
    private readonly follow: FollowValidation,
  ) {}

  async execute(event: ProfileEvent): Promise<number> {
    await this.views.recordProfile(event);
    // Even when the view was already up to date: a crash may have fallen between the view and the enrollments.
    const using = await this.enrollments.followingProfile(event.partnerId, event.profileKind, event.profileId);
    let changed = 0;
    for (const candidate of using) {
      for (let attempt = 1, current = candidate; attempt <= ATTEMPTS; attempt++) {
        const program = await this.programs.find(current.programId);
        if (!program) break;
        const written = await this.follow.apply(current, program.payoutRules);
        if (written) {
          if (written !== current) changed++;
          break;
        }
        // Changed meanwhile: follow it again only if it still follows (an ineligible decision or the discontinue
        // sweep may have ended it; those keep submittedAt).
        const fresh = await this.enrollments.findById(current._id);
        if (!fresh || !fresh.submittedAt || fresh.rollover || !FOLLOWING_VALIDATION.includes(fresh.status)) break;
        current = fresh;
        if (attempt === ATTEMPTS) throw new Error(`enrollment ${current._id} kept changing while it followed profile ${event.profileId}`);
      }
    }
    return changed;
  }
}
