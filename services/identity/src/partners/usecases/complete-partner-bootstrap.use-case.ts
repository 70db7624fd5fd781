import { Trace } from '@lib/messaging';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
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
 */
@Injectable()
export class CompletePartnerBootstrap implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(CompletePartnerBootstrap.name);
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly partners: PartnersRepository,
    private readonly users: UsersRepository,
  ) {}

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

  /** Finishes the registrations left with a pending first admin, then sweeps the claims: at start, then on the timer. */
  async sweep(): Promise<void> {
    try {
      // Work nobody asked for right now: a trace of its own for the events it causes.
      await Trace.job('partner-registrations-completion', async () => {
        for (const partner of await this.partners.withPendingAdmin()) await this.execute(partner);
      });
    } catch (error) {
      this.logger.warn(`could not finish pending partner registrations: ${(error as Error).message}`);
    }
    await this.sweepClaims();
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.sweep();
    this.sweeper = setInterval(() => void this.sweep(), CLAIM_GRACE_MS);
    this.sweeper.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }
}
