import { isDuplicateKey, pushOutbox } from '@lib/messaging';
import { FieldProblem, Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { isDeepStrictEqual } from 'node:util';
import { Model } from 'mongoose';
import { DefaultBankProfile } from '../../default-bank-profiles/default-bank-profile.schema';
import { PayoutAccess } from '../../profiles/payout-access';
import { ProfileEvents } from '../../profiles/profile-events';
import { duplicateName, throwIfProblems } from '../../profiles/problems';
import { maskSecret } from '../../secrets/masking';
import { SecretBox } from '../../secrets/secret-box';
import { checkBankAccount, CheckedAccount } from '../bank-account.rules';
import { BankProfile, nameKey } from '../bank-profile.schema';
import { BankProfilesRepository } from '../bank-profiles.repository';
import { UpdateBankProfileDto } from '../dto/bank-profile.dto';
import { beneficiaryProblems } from './create-bank-profile.use-case';

/**
 * Changes a bank profile (If-Match). A real change is a new revision, pending validation, published with a
 * validation request; the same details sent again change nothing. Bad input changes nothing either.
 */
@Injectable()
export class UpdateBankProfile {
  constructor(
    private readonly access: PayoutAccess,
    private readonly profiles: BankProfilesRepository,
    @InjectModel(DefaultBankProfile.name) private readonly defaults: Model<DefaultBankProfile>,
    private readonly secrets: SecretBox,
    private readonly events: ProfileEvents,
  ) {}

  async execute(principal: Principal, profileId: string, expectedVersion: number, input: UpdateBankProfileDto): Promise<BankProfile> {
    const actor = await this.access.bankManager(principal);
    const current = await this.profiles.findForPartner(actor.partnerId, profileId);
    if (!current) throw Problems.notFound(`Bank profile ${profileId}`);
    if (current.version !== expectedVersion) throw Problems.preconditionFailed(current.version);
    if (Object.values(input).every((v) => v === undefined)) {
      throw Problems.field('body', 'must change at least one of name, country, currency, paymentMethod, account, beneficiary');
    }

    const country = input.country ?? current.country;
    const paymentMethod = input.paymentMethod ?? current.paymentMethod;
    const beneficiary = input.beneficiary ? JSON.parse(JSON.stringify(input.beneficiary)) : current.beneficiary;
    const problems: FieldProblem[] = [];
    let account: CheckedAccount | undefined;
    if (input.account) {
      const checked = checkBankAccount(country, { ...input.account });
      problems.push(...checked.problems);
      account = checked.account;
    } else if (country !== current.country) {
      problems.push({ field: 'account', message: `is required when the bank account country changes (to ${country})` });
    }
    problems.push(...beneficiaryProblems(paymentMethod, beneficiary));
    throwIfProblems(problems);

    const currency = input.currency ?? current.currency;
    if (currency !== current.currency) {
      const bound = await this.defaults.find({ partnerId: actor.partnerId, bankProfileId: profileId }, { _id: 1 }).lean();
      if (bound.length) {
        throw Problems.conflict(
          `This bank profile is the default of location(s) ${bound.map((d) => d._id).join(', ')} in ${current.currency}; ` +
            'assign another default there (or remove it) before changing its currency.',
          { errors: [{ field: 'currency', message: 'cannot change while the profile is a default bank profile' }] },
        );
      }
    }

    const details = {
      name: input.name?.trim() ?? current.name,
      nameKey: nameKey(input.name ?? current.name),
      country,
      currency,
      paymentMethod,
      beneficiary,
      scheme: account?.scheme ?? current.scheme,
      bankIdentifiers: account?.identifiers ?? current.bankIdentifiers,
      secretField: account?.secretField ?? current.secretField,
    };
    const sameSecret = !account || this.secrets.open(current.sealedAccount, `${profileId}:account`) === account.secret;
    const before = pick(current, Object.keys(details) as Array<keyof typeof details>);
    const unchanged = sameSecret && isDeepStrictEqual(JSON.parse(JSON.stringify(details)), JSON.parse(JSON.stringify(before)));
    if (unchanged) return current;

    const now = new Date();
    const changes = {
      ...details,
      ...(account && {
        sealedAccount: this.secrets.seal(account.secret, `${profileId}:account`),
        maskedAccount: maskSecret(account.secret),
      }),
      status: 'PENDING_VALIDATION' as const,
      reasons: [],
      revision: current.revision + 1,
      version: current.version + 1,
      updatedBy: actor.userId,
      updatedAt: now,
    };
    const updated: BankProfile = { ...current, ...changes };
    try {
      const result = await this.profiles.model.updateOne(
        { _id: profileId, partnerId: actor.partnerId, version: expectedVersion },
        { $set: changes, $push: pushOutbox(this.events.newRevision('BANK', 'ProfileUpdated', updated)) },
        { timestamps: false },
      );
      if (result.matchedCount === 0) {
        const latest = await this.profiles.findForPartner(actor.partnerId, profileId);
        throw Problems.preconditionFailed(latest?.version ?? current.version);
      }
    } catch (error) {
      if (isDuplicateKey(error)) throw duplicateName();
      throw error;
    }
    this.events.committed();
    return updated;
  }
}

function pick<T extends object, K extends keyof T>(source: T, keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, source[k]])) as Pick<T, K>;
}
