import { ProfileKind, ProfileKinds, ProfileStatus, ProfileStatuses } from '@lib/contracts';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';
import { BankProfileDto, MaskedBankAccountDto } from '../../bank-profiles/dto/bank-profile.dto';
import type { ValidationEffect } from '../../profiles/profile.parts';
import { TaxProfileDto } from '../../tax-profiles/dto/tax-profile.dto';

/** The account with its secret in clear: `iban` for IBAN accounts, `accountNumber` for the others. */
export class BankAccountDetailsDto extends MaskedBankAccountDto {
  @ApiPropertyOptional({ example: 'DE89370400440532013000', description: 'Secret, in clear' }) iban?: string;
  @ApiPropertyOptional({ description: 'Secret, in clear' }) accountNumber?: string;
}

export class BankProfileDetailsDto extends BankProfileDto {
  @ApiProperty({ type: BankAccountDetailsDto }) override account!: BankAccountDetailsDto;
}

export class TaxProfileDetailsDto extends TaxProfileDto {
  @ApiProperty({ type: String, nullable: true, description: 'Secret, in clear' }) taxId!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Secret, in clear' }) vatId!: string | null;
}

export class RecordedValidationDto {
  @ApiProperty() profileId!: string;
  @ApiProperty({ enum: ProfileKinds }) profileKind!: ProfileKind;
  @ApiProperty({
    enum: ['APPLIED', 'OUTDATED', 'ALREADY_DECIDED', 'CONFIRMED', 'DUPLICATE'],
    description:
      'APPLIED: it decided the revision; OUTDATED: it was for an older revision (recorded only); DUPLICATE: the same decision was ' +
      'recorded before, nothing changed. With the back office key (X-Validator-Key), a revision already decided is recorded and ' +
      'kept as it was: ALREADY_DECIDED (decided otherwise), CONFIRMED (the same outcome again); with the operator key that answers 409.',
  })
  effect!: ValidationEffect | 'DUPLICATE';
  @ApiProperty({ description: "The profile's current revision" }) revision!: number;
  @ApiProperty({ enum: ProfileStatuses }) status!: ProfileStatus;
  @ApiProperty({ type: [String] }) reasons!: string[];
  @ApiProperty({ description: 'Also the ETag' }) version!: number;
}

export class ExpiryScanDto {
  @ApiProperty({ description: 'Profiles expiring within the window that had not been reported for their current expiresAt' })
  candidates!: number;
  @ApiProperty({ description: 'TaxProfileExpiring events written by this scan' }) reported!: number;
  @ApiProperty({ description: 'False when shutdown stopped the scan before its last candidate: run it again (the next scheduled one reports the rest)' })
  complete!: boolean;
}

export class ResealDto {
  @ApiProperty({ description: 'Profiles read that had a secret sealed with a key other than the active one' }) examined!: number;
  @ApiProperty({ description: 'Of those, re-sealed with the active key by this run' }) resealed!: number;
  @ApiProperty({ description: 'Of those, changed meanwhile and left as they were (run again)' }) conflicts!: number;
  @ApiProperty({ description: 'Of those, with a secret that does not open (its key is not configured, or is not the key that sealed it)' })
  unreadable!: number;
  @ApiProperty({ type: [String], description: 'Key ids of unreadable secrets that PAYOUT_ENCRYPTION_KEYS does not list' }) missingKeyIds!: string[];
  @ApiProperty({ description: 'Profiles that still have a secret sealed with another key (0: the old keys may be removed)' }) remaining!: number;
  @ApiProperty({ description: 'The key this instance seals with (its PAYOUT_ENCRYPTION_ACTIVE_KEY_ID): "remaining" counts secrets sealed with any other' })
  activeKeyId!: string;
}

/** A key id of PAYOUT_ENCRYPTION_KEYS. */
const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export class ResealQueryDto {
  @ApiPropertyOptional({
    pattern: KEY_ID_PATTERN.source,
    description:
      'The key the run must seal with: 409, nothing done, when this instance seals with another (a rollout of the new ' +
      'PAYOUT_ENCRYPTION_ACTIVE_KEY_ID not finished, or rolled back), which would re-seal the secrets with the old key',
  })
  @IsOptional()
  @Matches(KEY_ID_PATTERN, { message: 'activeKeyId must be a key id (1 to 32 letters, digits, _ or -)' })
  activeKeyId?: string;
}
