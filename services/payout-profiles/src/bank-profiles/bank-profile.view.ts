import { servedLocations } from '../profiles/permissions';
import { historyView, statusView } from '../profiles/profile.parts';
import { BankProfile } from './bank-profile.schema';
import type { BankProfileDto } from './dto/bank-profile.dto';

/** What the API shows of a bank profile: everything but the account secret, which is masked. */
export function bankProfileView(p: BankProfile, { history = false } = {}): BankProfileDto {
  return {
    profileId: p._id,
    profileKind: 'BANK' as const,
    partnerId: p.partnerId,
    name: p.name,
    country: p.country,
    currency: p.currency,
    paymentMethod: p.paymentMethod,
    beneficiary: p.beneficiary,
    account: { scheme: p.scheme, maskedAccount: p.maskedAccount, ...p.bankIdentifiers },
    locationIds: servedLocations(p),
    ...statusView(p),
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
    ...(history && { validationHistory: historyView(p.validationHistory) }),
  };
}
