import { fiscalYearOver } from '@lib/contracts';
import { Clock } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { Enrollment } from '../enrollment.schema';
import { EnrollmentEvents } from '../enrollment-events';
import { bankNoLongerServes, ProfileFacts, TERMINAL, WITHDRAWAL_CLEARS, withdrawnBankChoice } from '../enrollment-rules';
import { changedEnrollment, EnrollmentChanges, EnrollmentsRepository } from '../enrollments.repository';

/**
 * An enrollment keeps a bank profile whatever the location's default is (chosen by its admin, or in use since
 * Submit). Once that profile no longer serves the enrollment's location (an admin of both locations took this one out
 * of its `locationIds`), only the other locations' admins may edit the account it pays to: the enrollment may not
 * keep it. It becomes ACTION_REQUIRED with the reason, its choice is cleared (Continue proposes the location's default
 * again) and, if submitted, it is back to the proposal, to be submitted again (`enrolledAt` stays: a year completed
 * stays completed). One guarded write with EnrollmentActionRequired, also when it was ACTION_REQUIRED already (the
 * admin has something new to do).
 * Called wherever a kept bank profile is read: the profile event's handler, Continue, following validation (Submit
 * again, the rollover's continuations), and Enroll's recheck after it wrote a choice. Idempotent: once withdrawn the
 * enrollment keeps no bank profile, so nothing is withdrawn again.
 * Not once the enrollment's fiscal year is over (by the Clock, rolled over yet or not): the rollover decides it from
 * the profile view (its continuation is ACTION_REQUIRED with the reason), and the year's enrollment stays as it was.
 * The withdrawn enrollment is marked `bankWithdrawn` (its `bankProfileId` left only for display): Submit refuses it
 * and the rollover does not renew with it until Continue proposes again.
 * Returns the enrollment as written, `current` when there is nothing to withdraw, null when it changed meanwhile
 * (the caller reads it again and decides again).
 */
@Injectable()
export class WithdrawBankChoice {
  constructor(
    private readonly enrollments: EnrollmentsRepository,
    private readonly events: EnrollmentEvents,
    private readonly clock: Clock,
  ) {}

  /** `extra`: more changes in the same write (the rollover: the continuation's `renewedAs`). */
  async apply(current: Enrollment, bank: ProfileFacts | undefined, extra: EnrollmentChanges = {}): Promise<Enrollment | null> {
    if (TERMINAL.includes(current.status) || current.rollover || fiscalYearOver(current.fiscalYear, this.clock.now())) return current;
    const reason = bankNoLongerServes(current, bank);
    if (!reason) return current;
    const changes = { ...withdrawnBankChoice(reason), ...extra };
    const unset: Array<keyof Enrollment> = WITHDRAWAL_CLEARS.filter((field) => current[field] !== undefined && current[field] !== null);
    const event = this.events.event('EnrollmentActionRequired', changedEnrollment(current, changes, unset), { previousStatus: current.status });
    const written = await this.enrollments.update(current, changes, [event], unset);
    if (written) this.events.committed();
    return written;
  }
}
