import { EnrollmentEvent, Topics } from '@lib/contracts';
import { ConsumedEvent } from '@lib/messaging';
import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { RecordEnrollmentStatus } from '../usecases/record-enrollment-status.use-case';

/** Every event type of enrollments.events.v1 carries the enrollment as it now is. */
@Controller()
export class EnrollmentsHandler {
  constructor(private readonly recordEnrollmentStatus: RecordEnrollmentStatus) {}

  @EventPattern(Topics.enrollments)
  async onEnrollmentEvent(@Payload() event: ConsumedEvent<EnrollmentEvent>): Promise<void> {
    await this.recordEnrollmentStatus.execute(event.envelope.data, event.envelope.type);
  }
}
