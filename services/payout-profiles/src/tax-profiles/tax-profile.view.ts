import { historyView, statusView } from '../profiles/profile.parts';
import type { TaxProfileDto } from './dto/tax-profile.dto';
import { TaxProfile } from './tax-profile.schema';

/** What the API shows of a tax profile: tax ids masked (last four characters). */
export function taxProfileView(p: TaxProfile, { history = false } = {}): TaxProfileDto {
  return {
    profileId: p._id,
    profileKind: 'TAX' as const,
    partnerId: p.partnerId,
    locationId: p.locationId,
    businessProfile: p.businessProfile,
    incorporation: p.incorporation,
    incorporationCountry: p.incorporationCountry,
    taxForm: p.taxForm,
    maskedTaxId: p.maskedTaxId ?? null,
    maskedVatId: p.maskedVatId ?? null,
    documents: p.documents.map(({ fileName, contentType, sizeBytes, uploadedAt }) => ({ fileName, contentType, sizeBytes, uploadedAt })),
    expiresAt: p.expiresAt,
    ...statusView(p),
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
    ...(history && { validationHistory: historyView(p.validationHistory) }),
  };
}
