import { isDuplicateKey } from '@lib/messaging';
import { Clock, IdempotentRequest, ownCreation, Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { PayoutAccess } from '../../profiles/payout-access';
import { ProfileEvents } from '../../profiles/profile-events';
import { createdProfileId } from '../../profiles/profile.parts';
import { throwIfProblems } from '../../profiles/problems';
import { SecretBox } from '../../secrets/secret-box';
import { CreateTaxProfileDto } from '../dto/tax-profile.dto';
import { TaxProfile } from '../tax-profile.schema';
import { TaxProfilesRepository } from '../tax-profiles.repository';
import { checkTaxDetails, FORM_FOR, expiryProblems, sealTaxIds, taxIdInTextProblems, toDocuments } from '../tax-rules';

/** The tax profile of a location (one per location), at revision 1, pending validation. */
@Injectable()
export class CreateTaxProfile {
  constructor(
    private readonly access: PayoutAccess,
    private readonly profiles: TaxProfilesRepository,
    private readonly secrets: SecretBox,
    private readonly events: ProfileEvents,
    private readonly clock: Clock,
  ) {}

  /** `idempotency`: the request's key, which its profile's id derives from (createdProfileId), and fingerprint. */
  async execute(principal: Principal, locationId: string, input: CreateTaxProfileDto, idempotency?: IdempotentRequest): Promise<TaxProfile> {
    const { actor } = await this.access.locationAdmin(principal, locationId, 'create or edit its tax profile');
    const now = this.clock.now();
    const { problems, details } = checkTaxDetails(input);
    throwIfProblems([
      ...problems,
      // The form's limit on the expiry whatever else is wrong: the form follows from the incorporation alone.
      ...expiryProblems(input.expiresAt, now, FORM_FOR[input.incorporation]),
      ...(details ? taxIdInTextProblems(details, input.businessProfile, input.documents ?? []) : []),
    ]);

    const profileId = createdProfileId('TAX', actor, locationId, idempotency);
    const profile: TaxProfile = {
      _id: profileId,
      partnerId: actor.partnerId,
      locationId,
      businessProfile: JSON.parse(JSON.stringify(input.businessProfile)),
      incorporation: details!.incorporation,
      incorporationCountry: details!.incorporationCountry,
      taxForm: details!.taxForm,
      ...sealTaxIds(this.secrets, profileId, details!),
      documents: toDocuments(input.documents),
      expiresAt: new Date(input.expiresAt),
      status: 'PENDING_VALIDATION',
      reasons: [],
      revision: 1,
      revisedAt: now,
      version: 1,
      validationHistory: [],
      decisionKeys: [],
      createdBy: actor.userId,
      ...(idempotency && { createdByRequest: idempotency.fingerprint }),
      updatedBy: actor.userId,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.profiles.create(profile, this.events.newRevision('TAX', 'ProfileCreated', profile));
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      // Made by this request already (a retry under its key whose first answer was lost): that profile is the answer.
      const found = idempotency ? await this.profiles.findAnyPartner(profileId) : null;
      const made = ownCreation(found?.partnerId === actor.partnerId ? found : null, idempotency);
      if (made) return made;
      throw Problems.conflict(`Location ${locationId} already has a tax profile; change it with PATCH.`, {
        errors: [{ field: 'locationId', message: 'must be a location without a tax profile (one per location)' }],
      });
    }
    this.events.committed();
    return profile;
  }
}
