import { DefaultBankProfile } from './default-bank-profile.schema';

export function defaultBankProfileView(d: DefaultBankProfile) {
  return {
    locationId: d.locationId,
    bankProfileId: d.bankProfileId,
    currency: d.currency,
    version: d.version,
    changedBy: d.changedBy,
    changedAt: d.changedAt,
  };
}
