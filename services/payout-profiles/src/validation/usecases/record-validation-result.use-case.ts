import { pushOutbox } from '@lib/messaging';
import { Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { Model } from 'mongoose';
import { BankProfile } from '../../bank-profiles/bank-profile.schema';
import { BankProfilesRepository } from '../../bank-profiles/bank-profiles.repository';
import { ProfileEvents } from '../../profiles/profile-events';
import { decisionKey, ProfileState, ValidationEffect, ValidationRecord } from '../../profiles/profile.parts';
import { TaxProfile } from '../../tax-profiles/tax-profile.schema';
import { TaxProfilesRepository } from '../../tax-profiles/tax-profiles.repository';
import { ValidationResultCommand } from './validation-result.command';

export interface ValidationResultAnswer {
  /** What the result did; DUPLICATE: the same result was recorded before, nothing changed. */
  effect: ValidationEffect | 'DUPLICATE';
  /** For a duplicate: what the first copy of this result did. */
  duplicateOf?: ValidationEffect;
  profile: ProfileState;
}

const ATTEMPTS = 5;

/**
 * Records a validation decision, from the back office (Kafka) or an operator (HTTP), in one conditional write:
 *  - for the current, undecided revision: the profile becomes APPROVED or ACTION_REQUIRED, with
 *    ProfileApproved / ProfileActionRequired;
 *  - for an older revision: recorded in the history, current status untouched (OUTDATED);
 *  - for a revision already decided differently: recorded, the first decision stands (ALREADY_DECIDED);
 *  - the same result again (same revision, outcome and reasons, whatever its event id): nothing changes.
 * An operator's decision is a request, refused with 409 when its revision was decided differently (after it is
 * recorded); the back office's result is a fact already sent, only recorded.
 */
@Injectable()
export class RecordValidationResult {
  constructor(
    private readonly bank: BankProfilesRepository,
    private readonly tax: TaxProfilesRepository,
    private readonly events: ProfileEvents,
  ) {}

  async execute(command: ValidationResultCommand): Promise<ValidationResultAnswer> {
    const model = (command.profileKind === 'BANK' ? this.bank.model : this.tax.model) as unknown as Model<BankProfile | TaxProfile>;
    const reasons = command.reasons;
    const key = decisionKey(command.revision, command.outcome, reasons);

    for (let attempt = 1; ; attempt++) {
      const profile = await model.findById(command.profileId).lean<BankProfile | TaxProfile>();
      if (!profile) throw Problems.notFound(`${command.profileKind === 'BANK' ? 'Bank' : 'Tax'} profile ${command.profileId}`);
      if (command.revision > profile.revision) {
        throw Problems.field('revision', `profile ${profile._id} has no revision ${command.revision} (current: ${profile.revision})`);
      }
      if (profile.decisionKeys.includes(key)) {
        const first = profile.validationHistory.find((r) => decisionKey(r.revision, r.outcome, r.reasons) === key);
        return this.answer(command, { effect: 'DUPLICATE', duplicateOf: first?.effect, profile });
      }

      const decided = profile.validationHistory.some((r) => r.revision === command.revision && r.effect === 'APPLIED');
      const effect: ValidationEffect =
        command.revision < profile.revision ? 'OUTDATED' : decided ? 'ALREADY_DECIDED' : 'APPLIED';
      const record: ValidationRecord = {
        revision: command.revision,
        outcome: command.outcome,
        reasons,
        source: command.source,
        ...(command.eventId && { eventId: command.eventId }),
        effect,
        receivedAt: new Date(),
      };
      const next = {
        ...profile,
        version: profile.version + 1,
        ...(effect === 'APPLIED' && { status: command.outcome, reasons }),
      } as BankProfile | TaxProfile;
      const set: Record<string, unknown> = { version: next.version };
      if (effect === 'APPLIED') Object.assign(set, { status: next.status, reasons: next.reasons });
      const push: Record<string, unknown> = { validationHistory: record, decisionKeys: key };
      if (effect === 'APPLIED') {
        const type = command.outcome === 'APPROVED' ? 'ProfileApproved' : 'ProfileActionRequired';
        Object.assign(push, pushOutbox([this.events.lifecycle(command.profileKind, type, next)]));
      }
      const { matchedCount } = await model.updateOne(
        { _id: profile._id, version: profile.version, decisionKeys: { $ne: key } },
        { $set: set, $push: push },
      );
      if (matchedCount === 1) {
        if (effect === 'APPLIED') this.events.committed();
        return this.answer(command, { effect, profile: next });
      }
      if (attempt >= ATTEMPTS) throw new Error(`profile ${profile._id} kept changing while a validation result was recorded`);
    }
  }

  private answer(command: ValidationResultCommand, answer: ValidationResultAnswer): ValidationResultAnswer {
    if (command.source === 'OPERATOR' && (answer.effect === 'ALREADY_DECIDED' || answer.duplicateOf === 'ALREADY_DECIDED')) {
      throw Problems.conflict(
        `Revision ${command.revision} was already decided; the first decision stands. A new decision needs a new revision (an edit of the profile).`,
        { effect: answer.effect, status: answer.profile.status },
      );
    }
    return answer;
  }
}
