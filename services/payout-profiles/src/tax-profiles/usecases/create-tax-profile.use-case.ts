import { isDuplicateKey } from '@lib/messaging';
import { FieldProblem, Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { PayoutAccess } from '../../profiles/payout-access';
import { ProfileEvents } from '../../profiles/profile-events';
import { throwIfProblems } from '../../profiles/problems';
import { maskSecret } from '../../secrets/masking';
import { SecretBox } from '../../secrets/secret-box';
import { CreateTaxProfileDto, TaxDocumentDto } from '../dto/tax-profile.dto';
import { TaxDocument, TaxProfile } from '../tax-profile.schema';
import { TaxProfilesRepository } from '../tax-profiles.repository';
import { checkTaxDetails, CheckedTaxDetails, isExpired } from '../tax.rules';

export function expiryProblems(expiresAt: string, now: Date): FieldProblem[] {
  return isExpired(new Date(expiresAt), now)
    ? [{ field: 'expiresAt', message: 'the tax form has expired: expiresAt must be a date in the future' }]
    : [];
}

export function toDocuments(documents: TaxDocumentDto[]): TaxDocument[] {
  return documents.map((d) => ({ fileName: d.fileName, contentType: d.contentType, sizeBytes: d.sizeBytes, uploadedAt: new Date(d.uploadedAt) }));
}

/** The sealed and masked forms of the tax ids, as stored. */
export function sealTaxIds(secrets: SecretBox, profileId: string, details: CheckedTaxDetails) {
  return {
    ...(details.taxId && { sealedTaxId: secrets.seal(details.taxId, `${profileId}:taxId`), maskedTaxId: maskSecret(details.taxId) }),
    ...(details.vatId && { sealedVatId: secrets.seal(details.vatId, `${profileId}:vatId`), maskedVatId: maskSecret(details.vatId) }),
  };
}

/** The tax profile of a location (one per location), at revision 1, pending validation. */
@Injectable()
export class CreateTaxProfile {
  constructor(
    private readonly access: PayoutAccess,
    private readonly profiles: TaxProfilesRepository,
    private readonly secrets: SecretBox,
    private readonly events: ProfileEvents,
  ) {}

  async execute(principal: Principal, locationId: string, input: CreateTaxProfileDto): Promise<TaxProfile> {
    const { actor } = await this.access.locationAdmin(principal, locationId, 'create or edit its tax profile');
    const now = new Date();
    const { problems, details } = checkTaxDetails(input);
    throwIfProblems([...problems, ...expiryProblems(input.expiresAt, now)]);

    const profileId = randomUUID();
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
      version: 1,
      validationHistory: [],
      decisionKeys: [],
      createdBy: actor.userId,
      updatedBy: actor.userId,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.profiles.model.create({ ...profile, outbox: this.events.newRevision('TAX', 'ProfileCreated', profile) });
    } catch (error) {
      if (isDuplicateKey(error)) {
        throw Problems.conflict(`Location ${locationId} already has a tax profile; change it with PATCH.`);
      }
      throw error;
    }
    this.events.committed();
    return profile;
  }
}
