import { BackgroundWork, Problems } from '@lib/platform';
import { Injectable, Logger } from '@nestjs/common';
import { FilterQuery, Model } from 'mongoose';
import { BankProfilesRepository } from '../../bank-profiles/bank-profiles.repository';
import { SealedSecretDoc } from '../../profiles/profile.parts';
import { TaxProfilesRepository } from '../../tax-profiles/tax-profiles.repository';
import { SecretBox, SecretUnavailable } from '../secret-box';

export interface ResealResult {
  /** Profiles read that had a secret sealed with a key other than the active one. */
  examined: number;
  /** Of those, re-sealed with the active key by this run. */
  resealed: number;
  /** Of those, changed by someone else between the read and the write (left as they were; run again). */
  conflicts: number;
  /** Of those, with a secret this instance cannot open (its key is not configured, or does not open it). */
  unreadable: number;
  /** The key ids of the unreadable secrets that PAYOUT_ENCRYPTION_KEYS does not list: put them back, run again. */
  missingKeyIds: string[];
  /** The key this instance seals with: `remaining` counts secrets sealed with any other. */
  activeKeyId: string;
  /** Profiles that still have a secret sealed with another key once the run ended (0: the old keys may go). */
  remaining: number;
}

/** Pages of this many profiles: small writes, and a stop at shutdown comes soon. */
const BATCH = 50;

type Sealed = Pick<SealedSecretDoc, 'keyId' | 'iv' | 'tag' | 'ciphertext'>;

type Stored = Record<string, unknown>;

/** A kind of profile: its collection, and where its secrets are (and the context each is sealed under). */
interface Walk {
  model: Model<Stored>;
  fields: Array<{ path: string; context: string }>;
}

/**
 * Finishes a key rotation: re-seals with the active key every stored secret (bank account numbers and IBANs, tax ids,
 * VAT ids) sealed with another one, so that the old key can be removed from PAYOUT_ENCRYPTION_KEYS. Without it a secret
 * is only re-sealed when its user edits it.
 *
 * It walks the profiles in pages of BATCH, in `_id` order (a profile skipped here is never visited twice in a run),
 * and writes each with a filter on `_id` and the `version` it read, so that a profile changed meanwhile (an edit, which
 * seals with the active key itself, or a validation result) is left alone and counted as a conflict. The write does not
 * bump `version` and publishes nothing: what the profile says (its API answer, ETag, events) is unchanged, so a user's
 * If-Match read before it still holds. Running it again is harmless; `remaining` tells when it is done. At shutdown
 * it stops after the page it is writing.
 */
@Injectable()
export class ResealSecrets {
  private readonly logger = new Logger(ResealSecrets.name);

  constructor(
    private readonly bank: BankProfilesRepository,
    private readonly tax: TaxProfilesRepository,
    private readonly secrets: SecretBox,
    private readonly work: BackgroundWork,
  ) {}

  /**
   * `expectedKeyId`: the key the operator means to seal with; another active here (a rollout of the new
   * PAYOUT_ENCRYPTION_ACTIVE_KEY_ID not finished on this instance, or rolled back) is refused (409) before anything is
   * done: the run would re-seal the new key's secrets with the old one and answer `remaining: 0`.
   */
  execute(expectedKeyId?: string): Promise<ResealResult> {
    // Refused inside the run, so that background_job_runs_total counts it (refused).
    return this.work.run(
      'secrets-reseal',
      async () => {
        if (expectedKeyId !== undefined && expectedKeyId !== this.secrets.activeKey) {
          throw Problems.conflict(
            `This instance seals with key ${this.secrets.activeKey}, not ${expectedKeyId} (its PAYOUT_ENCRYPTION_ACTIVE_KEY_ID): nothing was re-sealed. Run it again once every instance runs with ${expectedKeyId}.`,
            { activeKeyId: this.secrets.activeKey },
          );
        }
        return this.reseal();
      },
      { complete: (result) => result.remaining === 0 },
    );
  }

  private async reseal(): Promise<ResealResult> {
    const result: ResealResult = { examined: 0, resealed: 0, conflicts: 0, unreadable: 0, missingKeyIds: [], remaining: 0, activeKeyId: this.secrets.activeKey };
    const missing = new Set<string>();
    const walks: Walk[] = [
      { model: this.bank.unscoped as unknown as Model<Stored>, fields: [{ path: 'sealedAccount', context: 'account' }] },
      {
        model: this.tax.unscoped as unknown as Model<Stored>,
        fields: [
          { path: 'sealedTaxId', context: 'taxId' },
          { path: 'sealedVatId', context: 'vatId' },
        ],
      },
    ];
    for (const walk of walks) await this.walk(walk, result, missing);
    for (const walk of walks) result.remaining += await walk.model.countDocuments(this.stale(walk));
    result.missingKeyIds = [...missing].sort();
    if (result.examined) {
      this.logger.log(
        `re-sealed ${result.resealed} of ${result.examined} profile(s) with key ${this.secrets.activeKey}; ` +
          `${result.conflicts} changed meanwhile, ${result.unreadable} unreadable, ${result.remaining} remaining`,
      );
    }
    return result;
  }

  /** Profiles with one of the walk's secrets present and sealed with another key than the active one. */
  private stale(walk: Walk): FilterQuery<Stored> {
    const active = this.secrets.activeKey;
    return { $or: walk.fields.map(({ path }) => ({ [`${path}.keyId`]: { $exists: true, $ne: active } })) };
  }

  private async walk(walk: Walk, result: ResealResult, missing: Set<string>): Promise<void> {
    const projection = Object.fromEntries([['version', 1], ...walk.fields.map(({ path }) => [path, 1])]);
    let after: string | undefined;
    for (;;) {
      if (this.work.stopRequested) return;
      const filter = after === undefined ? this.stale(walk) : { $and: [{ _id: { $gt: after } }, this.stale(walk)] };
      const page = await walk.model.find(filter, projection).sort({ _id: 1 }).limit(BATCH).lean<Stored[]>();
      if (page.length === 0) return;
      for (const profile of page) {
        result.examined += 1;
        const set = this.resealed(walk, profile, missing);
        if (!set) {
          result.unreadable += 1;
          continue;
        }
        const { matchedCount } = await walk.model.updateOne({ _id: profile._id, version: profile.version }, { $set: set }, { timestamps: false });
        if (matchedCount === 1) result.resealed += 1;
        else result.conflicts += 1;
      }
      after = page[page.length - 1]._id as string;
    }
  }

  /** The `$set` that re-seals the profile's secrets sealed with another key, or undefined when one does not open. */
  private resealed(walk: Walk, profile: Stored, missing: Set<string>): Record<string, Sealed> | undefined {
    const set: Record<string, Sealed> = {};
    for (const { path, context } of walk.fields) {
      const sealed = profile[path] as Sealed | undefined;
      if (!sealed || sealed.keyId === this.secrets.activeKey) continue;
      const bound = `${profile._id}:${context}`;
      try {
        set[path] = this.secrets.seal(this.secrets.open(sealed, bound), bound);
      } catch (error) {
        if (!(error instanceof SecretUnavailable)) throw error;
        if (error.reason === 'KEY_NOT_CONFIGURED') missing.add(error.keyId);
        this.logger.warn(`cannot re-seal ${bound}: ${error.message}`);
        return undefined;
      }
    }
    return set;
  }
}
