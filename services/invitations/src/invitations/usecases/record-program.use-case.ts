import { ProgramSnapshot } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { ViewsRepository } from '../views/views.repository';
import { ReconcileInvitation } from './reconcile-invitation.use-case';

/**
 * A program snapshot (highest revision wins). Decisions that arrived before the program, or a program that
 * reopens, turn into invitations now.
 */
@Injectable()
export class RecordProgram {
  constructor(
    private readonly views: ViewsRepository,
    private readonly reconcile: ReconcileInvitation,
  ) {}

  async execute(program: ProgramSnapshot, heartbeat: () => Promise<void> = async () => undefined): Promise<void> {
    await this.views.recordProgram(program);
    for (const invitationId of await this.views.decisionIdsOfProgram(program.programId)) {
      await this.reconcile.execute(invitationId);
      await heartbeat();
    }
  }
}
