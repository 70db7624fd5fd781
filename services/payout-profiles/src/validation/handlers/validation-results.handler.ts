import { ProfileValidationCompleted, Topics } from '@lib/contracts';
import { ConsumedEvent } from '@lib/messaging';
import { Controller, Logger } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { RecordValidationResult } from '../usecases/record-validation-result.use-case';
import { ValidationResultCommand } from '../usecases/validation-result.command';

/** Decisions of the payments back office, from payout-profiles.validation-results.v1. */
@Controller()
export class ValidationResultsHandler {
  private readonly logger = new Logger(ValidationResultsHandler.name);

  constructor(private readonly record: RecordValidationResult) {}

  @EventPattern(Topics.validationResults)
  async onResult(@Payload() event: ConsumedEvent<ProfileValidationCompleted>): Promise<void> {
    if (event.envelope.type !== 'ProfileValidationCompleted') return;
    const { profileId, profileKind, revision, outcome, reasons } = event.envelope.data;
    // One that can never apply (an unknown profile, a revision that never existed, ACTION_REQUIRED without a reason)
    // throws a 4xx problem, which the consumer library dead-letters with the problem's words; a problem that says "try
    // again" (busy: the profile kept changing under the write) is retried with backoff, as every consumer's is.
    const { eventId, occurredAt } = event.envelope;
    // Absent, or null or empty as some serializers write an unset field: no partner named.
    const named = event.envelope.partnerId;
    const partnerId = typeof named === 'string' && named !== '' ? named : undefined;
    const command = ValidationResultCommand.create({ profileId, profileKind, revision, outcome, reasons, source: 'BACK_OFFICE', eventId, decidedAt: new Date(occurredAt), partnerId });
    const { effect, profile } = await this.record.execute(command);
    // The topic is keyed by the profile's partner, which the result does not carry: known only now. (One whose envelope
    // names the partner was checked by the consumer against that, which the profile's is.)
    if (partnerId === undefined) event.keyedBy?.(profile.partnerId);
    // ALREADY_DECIDED: RecordValidationResult warns (a conflict someone should look at).
    if (effect === 'OUTDATED' || effect === 'DUPLICATE' || effect === 'CONFIRMED') this.logger.log(`validation result ${event.envelope.eventId} for ${profileId} r${revision}: ${effect}`);
  }
}
