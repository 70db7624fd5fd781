import { ProgramEvent, Topics } from '@lib/contracts';
import { ConsumedEvent } from '@lib/messaging';
import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { RecordProgram } from '../usecases/record-program.use-case';

@Controller()
export class ProgramsHandler {
  constructor(private readonly recordProgram: RecordProgram) {}

  @EventPattern(Topics.programs)
  async onProgramEvent(@Payload() event: ConsumedEvent<ProgramEvent>): Promise<void> {
    switch (event.envelope.type) {
      case 'ProgramCreated':
      case 'ProgramUpdated':
        await this.recordProgram.execute(event.envelope.data.program, event.heartbeat);
    }
  }
}
