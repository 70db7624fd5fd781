import { isBlankText, MAX_REASON_LENGTH, MAX_REASONS, ProfileKind, ValidationOutcome, withoutControls } from '@lib/contracts';
import { Problems } from '@lib/platform';
import { maxLength } from 'class-validator';
import { storedProfileId, ValidationSource } from '../../profiles/profile.parts';

/**
 * A validation decision, from the back office (Kafka, or HTTP with X-Validator-Key) or an operator (HTTP), checked when
 * it is made so that every path gets the same rules: reasons trimmed (control characters and bidirectional overrides taken out), blank (nothing
 * visible) and repeated ones dropped; ACTION_REQUIRED names at least one
 * (the partner is told what to fix). A refused command is a 400 on HTTP and a dead letter on Kafka.
 * The reasons here are as sent: RecordValidationResult masks the profile's secrets (and long digit runs) in them before
 * they are compared, stored or published, since only it reads the profile. The bounds are the contract's
 * (ProfileValidationCompleted, against which the back office's events are parsed first).
 */
export class ValidationResultCommand {
  private constructor(
    readonly profileId: string,
    readonly profileKind: ProfileKind,
    readonly revision: number,
    readonly outcome: ValidationOutcome,
    readonly reasons: string[],
    readonly source: ValidationSource,
    /** The event that carried the result (back office), for the record. */
    readonly eventId?: string,
    /** When the back office decided (its event's occurredAt); an operator's decision is made when it is recorded. */
    readonly decidedAt?: Date,
    /** The partner the back office's event names (its envelope's `partnerId`, optional): it must be the profile's. */
    readonly partnerId?: string,
  ) {}

  static create(input: {
    profileId: string;
    profileKind: ProfileKind;
    revision: number;
    outcome: ValidationOutcome;
    reasons?: string[];
    source: ValidationSource;
    eventId?: string;
    decidedAt?: Date;
    partnerId?: string;
  }): ValidationResultCommand {
    // A back office's reasons are taken (a dead letter would lose its decision): without control characters and
    // bidirectional overrides, which would make them read other than stored, and blank once nothing visible is left.
    const reasons = [...new Set((input.reasons ?? []).map((r) => withoutControls(r).trim()).filter((r) => !isBlankText(r)))];
    if (input.outcome === 'ACTION_REQUIRED' && reasons.length === 0) {
      throw Problems.field('reasons', 'must name at least one reason when the outcome is ACTION_REQUIRED');
    }
    // Bounded: reasons are stored, published and searched for secrets (masking), and a partner reads them.
    if (reasons.length > MAX_REASONS) throw Problems.field('reasons', `must be at most ${MAX_REASONS} reasons`);
    // Counted as the contract counts (class-validator's MaxLength: an emoji is one character, not two UTF-16 units).
    if (reasons.some((r) => !maxLength(r, MAX_REASON_LENGTH))) throw Problems.field('reasons', `each reason must be at most ${MAX_REASON_LENGTH} characters`);
    return new ValidationResultCommand(storedProfileId(input.profileId), input.profileKind, input.revision, input.outcome, reasons, input.source, input.eventId, input.decidedAt, input.partnerId);
  }
}
