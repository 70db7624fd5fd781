import { ProgramEvent, Topics } from '@lib/contracts';
import { ConsumedEvent } from '@lib/messaging';
import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { InvitationProgressRepository } from './invitation-progress.repository';

/**
 * The program view from programs.events.v1 (state and current fiscal year): emails about an invitation of a program
 * closed, discontinued or moved on since are withdrawn before they are sent (`withdrawalOf`). Tells nobody anything.
 */
@Controller()
export class ProgramsHandler {
  constructor(private readonly invitations: InvitationProgressRepository) {}

  @EventPattern(Topics.programs)
  async onProgramEvent(@Payload() event: ConsumedEvent<ProgramEvent>): Promise<void> {
    if (event.envelope.type === 'ProgramCreated' || event.envelope.type === 'ProgramUpdated') {
      await this.invitations.recordProgram(event.envelope.data.program, new Date(event.envelope.occurredAt));
    }
  }
}
