import { ProgramSnapshot } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { InvitationRepository } from '../invitation.repository';
import { decisionsReadAsIs } from '../views/program-view.schema';
import { ViewsRepository } from '../views/views.repository';
import { ReconcileInvitation } from './reconcile-invitation.use-case';

/**
 * A program snapshot (highest revision wins). Decisions that arrived before the program, or a program that
 * reopens or moves to a new fiscal year, turn into invitations now: those of the program's current fiscal year
 * (the year Enroll enrolls in). Invitations of other years are left as they are: they are no longer delivered,
 * and their notices are not listed.
 */
@Injectable()
export class RecordProgram {
  constructor(
    private readonly views: ViewsRepository,
    private readonly reconcile: ReconcileInvitation,
    private readonly invitations: InvitationRepository,
  ) {}

  async execute(program: ProgramSnapshot, heartbeat: () => Promise<void> = async () => undefined): Promise<void> {
    // Renamed by a snapshot newer than the one stored: its invitations take the new name, which their later events (a
    // late admin's delivery, a revocation), notices and answers give. Before the view is written, so that this message
    // handled again after a failure in between still finds the rename to do. Invitations exist only of a program known
    // before; only on a rename, as it reads the whole collection (renameProgram).
    const before = await this.views.program(program.programId);
    const renaming = !!before && before.revision < program.revision && before.name !== program.name;
    if (renaming) await this.invitations.renameProgram(program.programId, program.name);
    await this.views.recordProgram(program);
    // The year as stored (this snapshot, or a newer one kept before it): only its decisions can be invited.
    const current = await this.views.program(program.programId);
    if (!current) return;
    // Once more with the name stored now: an invitation issued meanwhile on the view's older name, or a newer snapshot
    // stored meanwhile (a redelivery after a rebalance), is given it.
    if (renaming || (before && before.name !== current.name)) await this.invitations.renameProgram(program.programId, current.name);
    // Its decisions are read again (one by one) only while they were not read through with the program as it is now
    // (first known, or its state, fiscal year or requiresEligibility changed since, or changed and back): a rename, a
    // payout-rules change, an older snapshot or one sent again after that is done, reads none. Left undone (a failure,
    // a dead letter), the next snapshot, or the one sent again, does it; so does one after a snapshot an earlier release
    // stored.
    if (decisionsReadAsIs(current)) return;
    const read = { state: current.state, fiscalYear: current.fiscalYear, requiresEligibility: current.requiresEligibility, revision: current.revision };
    await this.reconcile.executeAll(await this.views.decisionIdsOfProgram(program.programId, current.fiscalYear), heartbeat);
    await this.views.programDecisionsRead(program.programId, read);
  }
}
