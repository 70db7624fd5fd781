import { sameId, withoutControls } from '@lib/contracts';
import { pushOutbox } from '@lib/messaging';
import { Clock, Problems } from '@lib/platform';
import { Injectable, Logger } from '@nestjs/common';
import { Model } from 'mongoose';
import { BankProfile } from '../../bank-profiles/bank-profile.schema';
import { BankProfilesRepository } from '../../bank-profiles/bank-profiles.repository';
import { ProfileEvents } from '../../profiles/profile-events';
import { decisionKey, ProfileState, ValidationEffect, ValidationRecord } from '../../profiles/profile.parts';
import { asciiDigits, clipped, maskSecretsIn } from '../../secrets/masking';
import { SecretBox, SecretUnavailable } from '../../secrets/secret-box';
import { TaxProfile } from '../../tax-profiles/tax-profile.schema';
import { TaxProfilesRepository } from '../../tax-profiles/tax-profiles.repository';
import { ValidationMetrics } from '../validation-metrics';
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
 * The most results a profile keeps that did not apply (OUTDATED, CONFIRMED, ALREADY_DECIDED). Each may hold 50 reasons
 * of 1,000 characters (its key is a digest): unbounded, a back office repeating itself would grow the profile
 * past MongoDB's 16 MB, and then no write to it (a partner's edit, the next decision) would succeed. Past this, such a
 * result is logged, not stored. Applied decisions (one per revision) are always stored.
 */
export const MAX_UNAPPLIED_RESULTS = 100;
/**
 * How many revisions back the history keeps results of, once a new decision applies: one decision a revision, each up to
 * 150 KB of reasons, and a partner may submit again as often as the back office sends it back (a new revision each
 * time), so kept for every revision they would grow the profile past 16 MB. The current revision's are always kept
 * (its decision is what a later result is checked against).
 */
export const KEPT_DECIDED_REVISIONS = 20;
/**
 * And the most bytes of reasons those results may hold together: a result may hold 50 reasons of 1,000 characters,
 * 150 KB of UTF-8 in Japanese, so 100 of them would pass 16 MB long before the count does.
 */
export const MAX_UNAPPLIED_REASON_BYTES = 1024 * 1024;

/** Stored reasons as a command takes reasons now (ValidationResultCommand: without control characters, trimmed). */
function asTaken(reasons: string[]): string[] {
  return reasons.map((reason) => withoutControls(reason).trim());
}

/**
 * Why a result that does not apply is not stored beside the profile's others (MAX_UNAPPLIED_RESULTS of them, or
 * MAX_UNAPPLIED_REASON_BYTES of reasons with this one's), or undefined when it is.
 */
function unappliedFull(history: ReadonlyArray<{ effect: string; reasons: string[] }>, reasons: string[]): string | undefined {
  const unapplied = history.filter((r) => r.effect !== 'APPLIED');
  if (unapplied.length >= MAX_UNAPPLIED_RESULTS) return `${MAX_UNAPPLIED_RESULTS} results that did not apply`;
  const held = reasonBytes(unapplied);
  if (held + reasonBytes([{ reasons }]) <= MAX_UNAPPLIED_REASON_BYTES) return undefined;
  return `${held} bytes of reasons in results that did not apply (at most ${MAX_UNAPPLIED_REASON_BYTES} with this one)`;
}

/** The bytes the reasons of `records` take as stored (UTF-8). */
function reasonBytes(records: ReadonlyArray<{ reasons: string[] }>): number {
  return records.reduce((sum, record) => sum + record.reasons.reduce((bytes, reason) => bytes + Buffer.byteLength(reason), 0), 0);
}

/**
 * Records a validation decision, from the back office (Kafka, or HTTP with X-Validator-Key) or an operator (HTTP), in
 * one conditional write:
 *  - for the current, undecided revision: the profile becomes APPROVED or ACTION_REQUIRED, with
 *    ProfileApproved / ProfileActionRequired;
 *  - for an older revision: recorded in the history, current status untouched (OUTDATED);
 *  - for a revision already decided differently: recorded, the first decision stands (ALREADY_DECIDED), and the
 *    conflict is made visible: a warning in the log and payout_validation_conflicts_total (ValidationMetrics);
 *  - the same result again (same revision, outcome and reasons, whatever its event id), or the same event again: nothing
 *    changes;
 *  - past MAX_UNAPPLIED_RESULTS results that did not apply, or MAX_UNAPPLIED_REASON_BYTES of their reasons, another one
 *    is logged, not stored.
 * An operator's decision is a request, refused with 409 when its revision was decided differently, before anything is
 * written (nothing stored changes, the version stays); the back office's result is a fact already sent, only recorded.
 *
 * Reasons are free text from the back office or an operator, and they are stored, answered and published
 * (ProfileActionRequired, notifications): before anything else they get the profile's secrets (IBAN or account
 * number, tax id, VAT id) masked wherever they are quoted, and any long run of digits masked too (maskSecretsIn).
 */
@Injectable()
export class RecordValidationResult {
  private readonly logger = new Logger(RecordValidationResult.name);

  constructor(
    private readonly bank: BankProfilesRepository,
    private readonly tax: TaxProfilesRepository,
    private readonly events: ProfileEvents,
    private readonly secrets: SecretBox,
    private readonly metrics: ValidationMetrics,
    private readonly clock: Clock,
  ) {}

  async execute(command: ValidationResultCommand): Promise<ValidationResultAnswer> {
    const model = (command.profileKind === 'BANK' ? this.bank.unscoped : this.tax.unscoped) as unknown as Model<BankProfile | TaxProfile>;

    for (let attempt = 1; ; attempt++) {
      const profile = await model.findById(command.profileId).lean<BankProfile | TaxProfile>();
      if (!profile) throw Problems.notFound(`${command.profileKind === 'BANK' ? 'Bank' : 'Tax'} profile ${command.profileId}`);
      // An event naming a partner names the profile's (the contract refuses an envelope contradicting what it is about):
      // one naming another is a mistake of its publisher (the wrong profile id, or the wrong partner), never applied.
      if (command.partnerId !== undefined && !sameId(command.partnerId, profile.partnerId)) {
        throw Problems.field('partnerId', `names another partner than profile ${profile._id}'s: the result is not applied`);
      }
      if (command.revision > profile.revision) {
        throw Problems.field('revision', `profile ${profile._id} has no revision ${command.revision} (current: ${profile.revision})`);
      }
      // A result of an earlier revision, secrets replaced since: it may quote part of one (its middle digits, its end),
      // which only a digest of the whole knows. Every run of digits masked whole: nothing of it in clear, and a copy sent
      // again under another event id masks as the first did (its duplicate key the same).
      const wholeDigitRuns = command.revision < profile.revision && (profile.supersededSecrets?.length ?? 0) > 0;
      const reasons = this.masked(command, profile, wholeDigitRuns);
      const key = decisionKey(command.revision, command.outcome, reasons);
      // Results recorded before reasons were masked have their key from the reasons as sent; a copy of one recorded
      // when its revision was the current one (digits that are no secret, `limit 5000`, kept) is known by the reasons
      // masked as then.
      const keys = [
        key,
        decisionKey(command.revision, command.outcome, command.reasons),
        ...(wholeDigitRuns ? [decisionKey(command.revision, command.outcome, this.masked(command, profile, false))] : []),
      ];
      // The same event again (redelivered after a crash before its ledger entry) is one whatever its reasons mask to
      // now: masked with the profile's secrets as they are, a part of an account replaced since is no longer one.
      const sameEvent = command.eventId ? profile.validationHistory.find((r) => r.eventId === command.eventId) : undefined;
      // A result recorded before: its key, or its record in the history (the reasons as stored, also of one whose key
      // was written in an older form, its reasons joined with "|").
      // Stored reasons are compared as a command takes them now (control characters out: ValidationResultCommand), so a
      // result recorded before that, sent again, is still the same one.
      // (Also with their digits read as ASCII's, as masking reads them now: reasons stored before kept other scripts'.)
      const recorded = profile.validationHistory.find(
        (r) => keys.includes(decisionKey(r.revision, r.outcome, asTaken(r.reasons))) || keys.includes(decisionKey(r.revision, r.outcome, asTaken(r.reasons).map(asciiDigits))),
      );
      if (sameEvent || recorded || keys.some((k) => profile.decisionKeys.includes(k))) {
        const first = sameEvent ?? recorded;
        return this.answer(command, { effect: 'DUPLICATE', duplicateOf: first?.effect, profile });
      }

      const decision = profile.validationHistory.find((r) => r.revision === command.revision && r.effect === 'APPLIED');
      // The same outcome again is no conflict when it says nothing new: an approval (whatever its note), or an
      // ACTION_REQUIRED whose reasons the decision gave already. New reasons the partner would not see are one.
      const confirms = decision?.outcome === command.outcome && (command.outcome === 'APPROVED' || reasons.every((r) => asTaken(decision.reasons).includes(r)));
      const effect: ValidationEffect =
        command.revision < profile.revision ? 'OUTDATED' : !decision ? 'APPLIED' : confirms ? 'CONFIRMED' : 'ALREADY_DECIDED';
      // A refused request changes nothing: checked before the write (which would record it and bump the version).
      if (command.source === 'OPERATOR' && (effect === 'ALREADY_DECIDED' || effect === 'CONFIRMED')) return this.answer(command, { effect, profile }); // 409
      // An operator deciding an older revision that has its decision: refused as on the current one (409), not recorded
      // as out of date. The back office's is recorded OUTDATED: a newer revision is being validated anyway.
      if (command.source === 'OPERATOR' && effect === 'OUTDATED' && decision) {
        return this.answer(command, { effect: confirms ? 'CONFIRMED' : 'ALREADY_DECIDED', profile }); // 409
      }
      const full = effect === 'APPLIED' ? undefined : unappliedFull(profile.validationHistory, reasons);
      if (full) {
        this.logger.warn(
          `${command.profileKind} profile ${profile._id} r${command.revision}: ${effect} result${command.eventId ? ` (event ${command.eventId})` : ''} ` +
            `not recorded: the profile already holds ${full}`,
        );
        // Not stored, still a conflict to see (its warning and payout_validation_conflicts_total).
        if (effect === 'ALREADY_DECIDED') this.conflict(command, decision!);
        return this.answer(command, { effect, profile });
      }
      const record: ValidationRecord = {
        revision: command.revision,
        outcome: command.outcome,
        reasons,
        source: command.source,
        ...(command.eventId && { eventId: command.eventId }),
        effect,
        receivedAt: this.clock.now(),
      };
      // Dated by the decision, never after its recording (a back office's clock ahead of ours) nor before the revision it
      // decides was made (a clock behind, a result re-sent with an old date): enrollment completes a fiscal year by this
      // date, which must not fall before the details it approves existed.
      const revisedAt = (profile.revisedAt ?? profile.createdAt)?.getTime() ?? -Infinity;
      const decidedAt = new Date(Math.max(revisedAt, Math.min(command.decidedAt?.getTime() ?? Infinity, record.receivedAt.getTime())));
      const next = {
        ...profile,
        version: profile.version + 1,
        // The profile's reasons say what to fix: an approval's note ("verified by the bank") stays in the history only.
        ...(effect === 'APPLIED' && { status: command.outcome, reasons: command.outcome === 'APPROVED' ? [] : reasons, decidedAt }),
      } as BankProfile | TaxProfile;
      const set: Record<string, unknown> = { version: next.version };
      if (effect === 'APPLIED') Object.assign(set, { status: next.status, reasons: next.reasons, decidedAt });
      const push: Record<string, unknown> = { validationHistory: record, decisionKeys: key };
      // An applied decision lets the results of revisions long decided go (KEPT_DECIDED_REVISIONS): the history set
      // whole then, guarded by the version as every write here.
      const kept = effect === 'APPLIED' ? profile.validationHistory.filter((r) => r.revision > command.revision - KEPT_DECIDED_REVISIONS) : profile.validationHistory;
      if (kept.length < profile.validationHistory.length) {
        delete push.validationHistory;
        set.validationHistory = [...kept, record];
      }
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
        if (effect === 'ALREADY_DECIDED') this.conflict(command, decision!);
        return this.answer(command, { effect, profile: next });
      }
      if (attempt >= ATTEMPTS) throw Problems.busy(`Profile ${profile._id} kept changing while the validation result was recorded; try again.`);
    }
  }

  /**
   * The command's reasons with the profile's secrets (and anything that looks like an account number, IBAN or tax id)
   * masked; repeats that masking made dropped; each at most MAX_REASON_LENGTH characters again (clipped). A profile whose secrets do not open (a key removed too early) still gets
   * its result recorded, masked by the safety net alone: refusing it would dead-letter every rejection of that
   * profile, and it would stay pending.
   */
  private masked(command: ValidationResultCommand, profile: BankProfile | TaxProfile, wholeDigitRuns: boolean): string[] {
    if (command.reasons.length === 0) return [];
    // Each secret opened on its own: one that does not open (its key removed) leaves the others masked as themselves.
    const open = (sealed: BankProfile['sealedAccount'] | undefined, field: string): string | undefined => {
      if (!sealed) return undefined;
      try {
        return this.secrets.open(sealed, `${profile._id}:${field}`);
      } catch (error) {
        if (!(error instanceof SecretUnavailable)) throw error;
        this.logger.warn(`${error.message} The validation result's reasons are masked without it (the safety net catches account numbers and long digit runs).`);
        return undefined;
      }
    };
    const secrets =
      command.profileKind === 'BANK'
        ? [open((profile as BankProfile).sealedAccount, 'account')]
        : [open((profile as TaxProfile).sealedTaxId, 'taxId'), open((profile as TaxProfile).sealedVatId, 'vatId')];
    const digests = profile.supersededSecrets ?? [];
    const supersededSecret = digests.length ? this.secrets.digestMatcher(digests) : undefined;
    return [...new Set(command.reasons.map((reason) => clipped(maskSecretsIn(reason, secrets, supersededSecret, { wholeDigitRuns }))))];
  }

  /**
   * A back-office result contradicting the revision's decision. Recorded in the history (effect ALREADY_DECIDED, shown
   * by the API) but not applied, so nothing downstream hears of it: the warning and the metric are what tell someone
   * to look. No event: payout-profiles.events.v1 has no type for it, and adding one is a contract change.
   */
  private conflict(command: ValidationResultCommand, decision: ValidationRecord): void {
    this.metrics.conflicts.inc({ profile_kind: command.profileKind, decided: decision.outcome, outcome: command.outcome });
    this.logger.warn(
      `Conflicting validation result: ${command.profileKind} profile ${command.profileId} revision ${command.revision} was decided ` +
        `${decision.outcome} (${decision.source}), and the ${command.source === 'BACK_OFFICE' ? 'back office' : 'operator'} now says ` +
        `${command.outcome}${command.eventId ? ` (event ${command.eventId})` : ''}. The first decision stands; review the profile.`,
    );
  }

  private answer(command: ValidationResultCommand, answer: ValidationResultAnswer): ValidationResultAnswer {
    const decided = (effect?: ValidationResultAnswer['effect']) => effect === 'ALREADY_DECIDED' || effect === 'CONFIRMED';
    if (command.source === 'OPERATOR' && (decided(answer.effect) || decided(answer.duplicateOf))) {
      throw Problems.conflict(
        `Revision ${command.revision} was already decided; the first decision stands. A new decision needs a new revision (an edit of the profile).`,
        // `profileStatus`: a problem's own `status` is its HTTP status.
        { effect: answer.effect, profileStatus: answer.profile.status },
      );
    }
    return answer;
  }
}

