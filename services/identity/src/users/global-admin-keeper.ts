import { ProblemException, Problems } from '@lib/platform';
import { HttpStatus, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PartnersRepository } from '../partners/partners.repository';
import { User } from './user.schema';
import { UsersRepository } from './users.repository';

/** Long enough for a count and one write; short enough that a holder that crashed blocks nobody for long. */
const LEASE_MS = 5_000;
/**
 * A holder checks, right before each of its writes, that it has used less than this much of its lease; past it, it
 * answers "try again" instead of writing late. The margin (LEASE_MS - WRITE_BY_MS) covers that one write.
 */
const WRITE_BY_MS = 3_000;
/** How long a request waits for another one's lease before answering "try again". */
const WAIT_MS = 3_000;

/** 409: the change would leave the partner without an active Global admin. */
export class LastGlobalAdminError extends ProblemException {
  constructor(userId: string) {
    super(
      HttpStatus.CONFLICT,
      'conflict',
      'Conflict',
      `User ${userId} is the last active Global admin of your partner; make another active user Global admin first.`,
    );
  }
}

/**
 * Keeps an active Global admin in every partner. A change that may remove one (deactivating a Global admin,
 * revoking GLOBAL_ADMIN, a directory import deactivating one) runs under a per-partner lease on the partner
 * document, after counting the active Global admins other than its target: two such changes never run side by
 * side, so two admins removing each other at the same moment cannot both see the other one as the one that stays.
 * Changes that add Global admins need no lease (they can only make the count too low, never too high). Only
 * single-document conditional updates: no multi-document transaction, which FerretDB and mongo-java-server lack.
 */
@Injectable()
export class GlobalAdminKeeper {
  constructor(
    private readonly partners: PartnersRepository,
    private readonly users: UsersRepository,
  ) {}

  /**
   * Runs `change` (which may take away `userId`'s active GLOBAL_ADMIN) while holding the partner's lease, if
   * another active Global admin remains; otherwise throws LastGlobalAdminError (409). Busy longer than WAIT_MS: a
   * retryable 409 (Problems.busy). `change` calls `inTime()` right before each write it makes: it throws that
   * retryable 409 once the lease is too far gone to write under it.
   * `by`, the caller as their permission was checked: changed since (deactivated, or their roles changed, by the
   * change that held the lease, say), the same retryable 409, and the retry checks them again. Otherwise Global admins
   * removing each other would each pass their checks, then wait for the lease and remove the other.
   */
  async removing<T>(partnerId: string, userId: string, by: Pick<User, '_id' | 'active' | 'roles'>, change: (inTime: () => void) => Promise<T>): Promise<T> {
    const token = randomUUID();
    const started = Date.now();
    let asked: number;
    // The lease runs from when it was asked for: an answer that comes late leaves less of it.
    while (!(await this.partners.takeGlobalAdminLease(partnerId, token, new Date((asked = Date.now()) + LEASE_MS)))) {
      if (Date.now() - started > WAIT_MS) throw Problems.busy("Another change of your partner's Global admins is in progress; retry.");
      await sleep(20 + Math.random() * 30);
    }
    const inTime = () => {
      if (Date.now() - asked > WRITE_BY_MS) throw Problems.busy('The service is slow right now; retry.');
    };
    try {
      if ((await this.users.countActiveWithRole(partnerId, 'GLOBAL_ADMIN', userId)) === 0) throw new LastGlobalAdminError(userId);
      const caller = await this.users.find(partnerId, by._id);
      if (!caller?.active || JSON.stringify(caller.roles) !== JSON.stringify(by.roles)) {
        throw Problems.busy('Your own account changed while this waited (a role or its activation); retry.');
      }
      return await change(inTime);
    } finally {
      // If the release fails, the lease ends by itself at `until`.
      await this.partners.releaseGlobalAdminLease(partnerId, token).catch(() => undefined);
    }
  }
}
