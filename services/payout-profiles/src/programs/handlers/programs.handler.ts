import { ProgramEvent, Topics } from '@lib/contracts';
import { ConsumedEvent } from '@lib/messaging';
import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ApplyProgramSnapshot } from '../usecases/apply-program-snapshot.use-case';

/** The program catalog view (payout rules) from programs.events.v1. */
@Controller()
export class ProgramsHandler {
  constructor(private readonly apply: ApplyProgramSnapshot) {}

  @EventPattern(Topics.programs)
  async onProgramEvent(@Payload() event: ConsumedEvent<ProgramEvent>): Promise<void> {
    if (event.envelope.type === 'ProgramCreated' || event.envelope.type === 'ProgramUpdated') {
      await this.apply.execute(event.envelope.data.program);
    }
  }
}
