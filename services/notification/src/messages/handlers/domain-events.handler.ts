import { Topics } from '@lib/contracts';
import { ConsumedEvent } from '@lib/messaging';
import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { RecordInvitationProgress } from '../../invitations/usecases/record-invitation-progress.use-case';
import { ProfileProgressRepository } from '../../profiles/profile-progress.repository';
import { CreateMessages } from '../usecases/create-messages.use-case';

/**
 * The domain events that tell someone something. Each handler only creates messages (idempotently); sending
 * is the delivery worker's job, so a slow SMTP server never holds up a partition.
 */
@Controller()
export class DomainEventsHandler {
  constructor(
    private readonly createMessages: CreateMessages,
    private readonly recordInvitationProgress: RecordInvitationProgress,
    private readonly profiles: ProfileProgressRepository,
  ) {}

  /** Also what became of each invitation (revoked, delivered): emails about it still waiting are checked against it. */
  @EventPattern(Topics.invitations)
  async onInvitationEvent(@Payload() event: ConsumedEvent) {
    await this.recordInvitationProgress.execute(event.envelope);
    await this.createMessages.execute(event.topic, event.envelope, event.stopping);
  }

  @EventPattern(Topics.enrollments)
  async onEnrollmentEvent(@Payload() event: ConsumedEvent) {
    await this.createMessages.execute(event.topic, event.envelope, event.stopping);
  }

  /** Also each profile's latest revision and expiry: emails about it still waiting are checked against them. */
  @EventPattern(Topics.payoutProfiles)
  async onPayoutProfileEvent(@Payload() event: ConsumedEvent) {
    await this.profiles.record(event.envelope.type, event.envelope.data as never);
    await this.createMessages.execute(event.topic, event.envelope, event.stopping);
  }
}
