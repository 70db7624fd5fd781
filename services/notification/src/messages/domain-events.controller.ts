import { Topics } from '@lib/contracts';
import { ConsumedEvent } from '@lib/messaging';
import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { CreateMessagesUseCase } from './usecases/create-messages.use-case';

/**
 * The domain events that tell someone something. Each handler only creates messages (idempotently); sending
 * is the delivery worker's job, so a slow SMTP server never holds up a partition.
 */
@Controller()
export class DomainEventsController {
  constructor(private readonly createMessages: CreateMessagesUseCase) {}

  @EventPattern(Topics.invitations)
  async onInvitationEvent(@Payload() event: ConsumedEvent) {
    await this.createMessages.execute(event.topic, event.envelope);
  }

  @EventPattern(Topics.enrollments)
  async onEnrollmentEvent(@Payload() event: ConsumedEvent) {
    await this.createMessages.execute(event.topic, event.envelope);
  }

  @EventPattern(Topics.payoutProfiles)
  async onPayoutProfileEvent(@Payload() event: ConsumedEvent) {
    await this.createMessages.execute(event.topic, event.envelope);
  }
}
