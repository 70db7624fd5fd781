import { EligibilityDetermined, Topics } from '@lib/contracts';
import { ConsumedEvent, positionOf } from '@lib/messaging';
import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { RecordEligibilityDecision } from '../usecases/record-eligibility-decision.use-case';

/** eligibility.decisions.v1: payloads are validated by the transport (malformed ones are dead-lettered). */
@Controller()
export class EligibilityHandler {
  constructor(private readonly recordDecision: RecordEligibilityDecision) {}

  @EventPattern(Topics.eligibility)
  async onDecision(@Payload() event: ConsumedEvent<EligibilityDetermined>): Promise<void> {
    if (event.envelope.type !== 'EligibilityDetermined') return;
    await this.recordDecision.execute(event.envelope, positionOf(event));
  }
}
