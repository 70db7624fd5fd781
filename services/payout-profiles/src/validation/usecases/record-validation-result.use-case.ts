import { ProfileKind, ValidationOutcome } from '@lib/contracts';
import { pushOutbox } from '@lib/messaging';
import { Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { Model } from 'mongoose';
import { BankProfile } from '../../bank-profiles/bank-profile.schema';
import { BankProfilesRepository } from '../../bank-profiles/bank-profiles.repository';
import { ProfileEvents } from '../../profiles/profile-events';
import { decisionKey, ProfileState, ValidationEffect, ValidationRecord, ValidationSource } from '../../profiles/profile.parts';
import { TaxProfile } from '../../tax-profiles/tax-profile.schema';
import { TaxProfilesRepository } from '../../tax-profiles/tax-profiles.repository';

export interface ValidationResultCommand {
  profileId: string;
  profileKind: ProfileKind;
  revision: number;
  outcome: ValidationOutcome;
  reasons: string[];
  source: ValidationSource;
  /** The event that carried the result (back office), for the record. */
  eventId?: string;
}

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
    const reasons = [...new Set(command.reasons.map((r) => r.trim()).filter(Boolean))];
    const key = decisionKey(command.revision, command.outcome, reasons);

    for (let attempt = 1; ; attempt++) {
      const profile = await model.findById(command.profileId).lean<BankProfile | TaxProfile>();
      if (!profile) throw Problems.notFound(`${command.profileKind === 'BANK' ? 'Bank' : 'Tax'} profile ${command.profileId}`);
      if (command.revision > profile.revision) {
        throw Problems.field('revision', `profile ${profile._id} has no revision ${command.revision} (current: ${profile.revision})`);
      }
      if (profile.decisionKeys.includes(key)) {
        const first = profile.validationHistory.find((r) => decisionKey(r.revision, r.outcome, r.reasons) === key);
        return { effect: 'DUPLICATE', duplicateOf: first?.effect, profile };
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
        return { effect, profile: next };
      }
      if (attempt >= ATTEMPTS) throw new Error(`profile ${profile._id} kept changing while a validation result was recorded`);
    }
  }
}
