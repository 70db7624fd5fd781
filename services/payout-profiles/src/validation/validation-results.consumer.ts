import { ProfileValidationCompleted, Topics } from '@lib/contracts';
import { ConsumedEvent, PermanentError } from '@lib/messaging';
import { Controller, HttpException, Logger } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { RecordValidationResult } from './usecases/record-validation-result.use-case';

/** Decisions of the payments back office, from payout-profiles.validation-results.v1. */
@Controller()
export class ValidationResultsConsumer {
  private readonly logger = new Logger(ValidationResultsConsumer.name);

  constructor(private readonly record: RecordValidationResult) {}

  @EventPattern(Topics.validationResults)
  async onResult(@Payload() event: ConsumedEvent<ProfileValidationCompleted>): Promise<void> {
    if (event.envelope.type !== 'ProfileValidationCompleted') return;
    const { profileId, profileKind, revision, outcome, reasons } = event.envelope.data;
    try {
      const { effect } = await this.record.execute({
        profileId,
        profileKind,
        revision,
        outcome,
        reasons: reasons ?? [],
        source: 'BACK_OFFICE',
        eventId: event.envelope.eventId,
      });
      if (effect !== 'APPLIED') this.logger.log(`validation result ${event.envelope.eventId} for ${profileId} r${revision}: ${effect}`);
    } catch (error) {
      // An unknown profile or a revision that never existed will not fix itself: dead-letter it now.
      if (error instanceof HttpException) throw new PermanentError(`${profileKind} profile ${profileId} r${revision}: ${error.message}`);
      throw error;
    }
  }
}
