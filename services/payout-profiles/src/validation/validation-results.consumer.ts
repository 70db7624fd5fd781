import { ProfileValidationCompleted, Topics } from '@lib/contracts';
import { ConsumedEvent, PermanentError } from '@lib/messaging';
import { ProblemException, RetryableProblem } from '@lib/platform';
import { Controller, HttpException, Logger } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { RecordValidationResult } from './usecases/record-validation-result.use-case';
import { ValidationResultCommand } from './usecases/validation-result.command';

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
      const command = ValidationResultCommand.create({ profileId, profileKind, revision, outcome, reasons, source: 'BACK_OFFICE', eventId: event.envelope.eventId, decidedAt: new Date(event.envelope.occurredAt) });
      const { effect } = await this.record.execute(command);
      // ALREADY_DECIDED: RecordValidationResult warns (a conflict someone should look at).
      if (effect === 'OUTDATED' || effect === 'DUPLICATE' || effect === 'CONFIRMED') this.logger.log(`validation result ${event.envelope.eventId} for ${profileId} r${revision}: ${effect}`);
    } catch (error) {
      // An unknown profile, a revision that never existed, ACTION_REQUIRED without a reason: none will fix itself,
      // so dead-letter it now, with the reason the problem gives (its header is what an operator reads). A problem that
      // says "try again" (busy: the profile kept changing under the write) goes on as it is, retried with backoff.
      if (error instanceof HttpException && !(error instanceof RetryableProblem)) {
        throw new PermanentError(`${profileKind} profile ${profileId} r${revision}: ${problemText(error)}`);
      }
      throw error;
    }
  }
}

/** What a problem says: its detail and the fields it names (an HttpException's message is only its class's title). */
export function problemText(error: HttpException): string {
  const body = error.getResponse() as { detail?: string; message?: unknown } | string;
  const detail = typeof body === 'string' ? body : (body.detail ?? (typeof body.message === 'string' ? body.message : error.message));
  const fields = error instanceof ProblemException ? ((error.extensions.errors as Array<{ field: string; message: string }> | undefined) ?? []) : [];
  return [detail, ...fields.map((f) => `${f.field} ${f.message}`)].join(' ');
}
