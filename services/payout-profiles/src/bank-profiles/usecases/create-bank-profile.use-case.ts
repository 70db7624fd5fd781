import { isDuplicateKey } from '@lib/messaging';
import { Clock, IdempotentRequest, ownCreation, Principal } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { PayoutAccess } from '../../profiles/payout-access';
import { adminLocations, servedLocations, shownTo } from '../../profiles/permissions';
import { ProfileEvents } from '../../profiles/profile-events';
import { createdProfileId } from '../../profiles/profile.parts';
import { duplicateName, throwIfProblems } from '../../profiles/problems';
import { maskSecret } from '../../secrets/masking';
import { SecretBox } from '../../secrets/secret-box';
import { checkBankAccount } from '../bank-account-rules';
import { BankProfile, nameKey } from '../bank-profile.schema';
import { beneficiaryProblems, beneficiaryTexts, secretInTextProblems } from '../bank-profile-rules';
import { BankProfilesRepository } from '../bank-profiles.repository';
import { CreateBankProfileDto } from '../dto/bank-profile.dto';

/**
 * A new bank profile of the caller's partner, at revision 1, pending validation, serving the locations named (the
 * caller must be Incentives admin of each) or, when none are named, the locations the caller is Incentives admin of.
 */
@Injectable()
export class CreateBankProfile {
  constructor(
    private readonly access: PayoutAccess,
    private readonly profiles: BankProfilesRepository,
    private readonly secrets: SecretBox,
    private readonly events: ProfileEvents,
    private readonly clock: Clock,
  ) {}

  /** `idempotency`: the request's key, which its profile's id derives from (createdProfileId), and fingerprint. */
  async execute(principal: Principal, input: CreateBankProfileDto, idempotency?: IdempotentRequest): Promise<BankProfile> {
    const actor = await this.access.bankManager(principal);
    const { problems, account } = checkBankAccount(input.country, { ...input.account });
    throwIfProblems([
      ...problems,
      ...beneficiaryProblems(input.paymentMethod, input.beneficiary),
      ...secretInTextProblems(account?.secret, [['name', input.name], ...beneficiaryTexts(input.beneficiary), ['account.bankName', account?.identifiers.bankName]]),
    ]);
    const locationIds = input.locationIds ? await this.access.servableLocations(actor, input.locationIds) : adminLocations(actor);

    const profileId = createdProfileId('BANK', actor, 'bank-profiles', idempotency);
    const now = this.clock.now();
    const profile: BankProfile = {
      _id: profileId,
      partnerId: actor.partnerId,
      name: input.name.trim(),
      nameKey: nameKey(input.name),
      country: input.country,
      currency: input.currency,
      paymentMethod: input.paymentMethod,
      beneficiary: JSON.parse(JSON.stringify(input.beneficiary)),
      scheme: account!.scheme,
      bankIdentifiers: account!.identifiers,
      secretField: account!.secretField,
      sealedAccount: this.secrets.seal(account!.secret, `${profileId}:account`),
      maskedAccount: maskSecret(account!.secret),
      locationIds,
      status: 'PENDING_VALIDATION',
      reasons: [],
      revision: 1,
      revisedAt: now,
      version: 1,
      validationHistory: [],
      decisionKeys: [],
      defaultFor: [],
      defaultClaims: 0,
      createdBy: actor.userId,
      ...(idempotency && { createdByRequest: idempotency.fingerprint }),
      updatedBy: actor.userId,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.profiles.create(profile, this.events.newRevision('BANK', 'ProfileCreated', profile));
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      // Made by this request already (a retry under its key whose first answer was lost): that profile is the answer.
      const found = idempotency ? await this.profiles.findAnyPartner(profileId) : null;
      const made = ownCreation(found?.partnerId === actor.partnerId ? found : null, idempotency);
      if (made) {
        // As it is now: narrowed since to locations the caller holds no role on, it is not theirs to read (as GET).
        this.access.bankProfileReader(actor, made._id, servedLocations(made));
        // Widened since by another admin: the locations the caller holds no role on are not shown (as GET).
        return shownTo(actor, made);
      }
      throw duplicateName();
    }
    this.events.committed();
    return profile;
  }
}
