import { Trace } from '@lib/messaging';
import { BackgroundWork, PeriodicJob } from '@lib/platform';
import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DuplicateUserError, UsersRepository } from '../../users/users.repository';
import { Partner } from '../partner.schema';
import { CLAIM_GRACE_MS, PartnersRepository } from '../partners.repository';

/**
 * Registration writes two documents (the partner, then its first Global admin) without a transaction. The
 * partner carries the admin as `pendingAdmin` (with its user id fixed in advance) until the user exists, so a
 * crash (or a failed write) in between is finished by a retried registration, at the next start, or by the sweep every
 * CLAIM_GRACE_MS (a partner is not left without its Global admin until a restart), and never creates two admins.
 *
 * The same pass removes location claims left by a registration that crashed before its partner write (no partner
 * document lists them and nobody took them for CLAIM_GRACE_MS; see PartnersRepository.sweepClaims), at start and
 * then every CLAIM_GRACE_MS. A registration that meets such a claim removes it itself.
 *
 * Never two passes at once in one process (PeriodicJob); one running at shutdown stops between partners and is waited
 * for before the outbox is flushed and the database closed (BackgroundWork).
 */
@Injectable()
export class CompletePartnerBootstrap implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(CompletePartnerBootstrap.name);
  private readonly job: PeriodicJob;

  constructor(
    private readonly partners: PartnersRepository,
    private readonly users: UsersRepository,
    private readonly work: BackgroundWork,
  ) {
    // Work nobody asked for right now: a trace of its own (PeriodicJob) for the events it causes.
    this.job = new PeriodicJob(SWEEP, () => this.work.run(SWEEP, () => this.sweep(), { complete: (done) => done }), this.logger);
  }

  async execute(partner: Partner): Promise<void> {
    const pending = partner.pendingAdmin;
    if (!pending) return;
    if (!(await this.users.find(partner._id, pending.userId))) {
      try {
        await this.users.create({
          userId: pending.userId,
          partnerId: partner._id,
          email: pending.email,
          displayName: pending.displayName,
          roles: [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }],
        });
      } catch (error) {
        // Written by a concurrent completion: the same user id, so nothing is duplicated.
        if (!(error instanceof DuplicateUserError)) throw error;
      }
    }
    await this.partners.clearPendingAdmin(partner._id);
  }

  /** Removes stale unlisted location claims; returns the location ids freed. */
  async sweepClaims(): Promise<string[]> {
    try {
      return await this.partners.sweepClaims();
    } catch (error) {
      this.logger.warn(`could not sweep location claims: ${(error as Error).message}`);
      return [];
    }
  }

  /**
   * Finishes the registrations left with a pending first admin, then sweeps the claims: at start, then on the timer.
   * False when shutdown stopped it between partners (the next start finishes the rest). A partner whose completion
   * fails is logged and the others are finished; then the run fails (BackgroundJobFailing sees it), the next retries.
   */
  async sweep(): Promise<boolean> {
    const failures: string[] = [];
    try {
      for (const partner of await this.partners.withPendingAdmin()) {
        if (this.work.stopRequested) return false;
        try {
          // Under the registration's ids (its events' chain), where it recorded them.
          const trace = partner.pendingAdmin?.trace;
          await (trace ? Trace.run(trace, () => this.execute(partner)) : this.execute(partner));
        } catch (error) {
          failures.push(partner._id);
          this.logger.warn(`could not finish the registration of partner ${partner._id}: ${(error as Error).message}`);
        }
      }
    } catch (error) {
      failures.push('(the pending partners could not be read)');
      this.logger.warn(`could not read the pending partner registrations: ${(error as Error).message}`);
    }
    await this.sweepClaims();
    if (failures.length) throw new Error(`pending partner registrations not finished: ${failures.join(', ')}`);
    return true;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.job.tick(); // before the service answers
    this.job.start(CLAIM_GRACE_MS, { atStart: false });
  }

  onModuleDestroy(): Promise<void> {
    return this.job.stop();
  }
}

const SWEEP = 'partner-registrations-completion';
