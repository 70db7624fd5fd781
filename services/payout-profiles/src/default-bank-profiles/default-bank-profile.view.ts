import { DefaultBankProfile } from './default-bank-profile.schema';
import type { DefaultBankProfileDto } from './dto/default-bank-profile.dto';

/** Only of a current default: a removed one (bankProfileId and currency null) is neither read (404) nor listed. */
export function defaultBankProfileView(d: DefaultBankProfile): DefaultBankProfileDto {
  return {
    locationId: d.locationId,
    bankProfileId: d.bankProfileId!,
    currency: d.currency!,
    version: d.version,
    changedBy: d.changedBy,
    changedAt: d.changedAt,
  };
}
