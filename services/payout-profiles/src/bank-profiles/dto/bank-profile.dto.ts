import { COUNTRIES, CURRENCIES, PaymentMethod, PaymentMethods } from '@lib/contracts';
import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { IsDeliverableEmail, OptionalNotNull, PageQuery, Text } from '@lib/platform';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsArray, IsIn, IsObject, IsString, Length, Matches, ValidateNested } from 'class-validator';
import { ProfileStateDto } from '../../profiles/dto/profile-state.dto';
import { AddressDto, AddressView } from '../../common/address.dto';
import { AccountScheme, SCHEMES } from '../bank-account-rules';

/**
 * Account details; which fields are required depends on the bank account country (see the README):
 * IBAN countries (and territories with their country's IBANs: JE, GG, IM, AX, France's overseas): iban + bic; US:
 * accountNumber + routingNumber; CA: institutionNumber + transitNumber + accountNumber; AU: bsb + accountNumber; IN:
 * ifsc + accountNumber; elsewhere: bic (a bank of the country's banking area) + accountNumber.
 */
// Blank ("   ") is refused with "<field> must not be blank" (Text), not read as left out: a required one would be told
// "is required", one the scheme does not use "is not used", and an optional one silently dropped. `null` is refused
// too (OptionalNotNull): stored, it made the same details sent again without the field look like a change (a new
// revision, sent to validation).
export class BankAccountDto {
  @ApiPropertyOptional({ example: 'DE89 3704 0044 0532 0130 00', description: 'Secret: stored encrypted, shown masked' })
  @OptionalNotNull() @Text(64) iban?: string;
  @ApiPropertyOptional({ example: 'COBADEFFXXX' }) @OptionalNotNull() @Text(64) bic?: string;
  @ApiPropertyOptional({ description: 'Secret: stored encrypted, shown masked' })
  @OptionalNotNull() @Text(64) accountNumber?: string;
  @ApiPropertyOptional({ example: '021000021', description: 'US ABA routing number' })
  @OptionalNotNull() @Text(64) routingNumber?: string;
  @ApiPropertyOptional({ enum: ['CHECKING', 'SAVINGS'] }) @OptionalNotNull() @Text(64) accountType?: string;
  @ApiPropertyOptional({ description: 'CA: 3 digits' }) @OptionalNotNull() @Text(64) institutionNumber?: string;
  @ApiPropertyOptional({ description: 'CA: 5 digits' }) @OptionalNotNull() @Text(64) transitNumber?: string;
  @ApiPropertyOptional({ description: 'AU: 6 digits' }) @OptionalNotNull() @Text(64) bsb?: string;
  @ApiPropertyOptional({ description: 'IN: 11 characters' }) @OptionalNotNull() @Text(64) ifsc?: string;
  @ApiPropertyOptional() @OptionalNotNull() @Text(140) bankName?: string;
}

export class BeneficiaryDto {
  @ApiProperty({ example: 'Contoso GmbH' }) @Text(200) name!: string;
  @ApiProperty({ example: 'payments@contoso.example' }) @IsDeliverableEmail() email!: string;
  @ApiPropertyOptional({ example: '+49 30 1234567' })
  @OptionalNotNull() @Matches(/^\+?(?=(?:[^0-9]*[0-9]){5})[0-9 ()-]{5,20}$/, { message: 'phone must be a phone number' })
  phone?: string;
  @ApiPropertyOptional({ type: AddressDto, description: 'Required when the payment method is CHECK' })
  @OptionalNotNull() @IsObject() @ValidateNested() @Type(() => AddressDto)
  address?: AddressDto;
}

/**
 * A beneficiary as answers show it: the same fields, a schema of its own (BeneficiaryDto's, which requests send, is
 * closed to other fields; an answer's is open to what a later release adds).
 */
export class BeneficiaryView extends BeneficiaryDto {
  @ApiPropertyOptional({ type: AddressView, description: 'Required when the payment method is CHECK' }) declare address?: AddressView;
}

export class CreateBankProfileDto {
  @ApiProperty({ example: 'EUR main account', description: 'Unique within the partner' })
  @Text(100) name!: string;

  @ApiProperty({ example: 'DE', description: 'Bank account country, ISO 3166-1 alpha-2' })
  @IsIn(COUNTRIES, { message: 'country must be an ISO 3166-1 alpha-2 country code' })
  country!: string;

  @ApiProperty({ example: 'EUR', description: 'ISO 4217' })
  @IsIn(CURRENCIES, { message: 'currency must be a supported ISO 4217 currency code' })
  currency!: string;

  @ApiProperty({ enum: PaymentMethods, example: 'ELECTRONIC_BANK_TRANSFER' })
  @IsIn(PaymentMethods) paymentMethod!: PaymentMethod;

  @ApiProperty({ type: BankAccountDto })
  @IsObject() @ValidateNested() @Type(() => BankAccountDto)
  account!: BankAccountDto;

  @ApiProperty({ type: BeneficiaryDto })
  @IsObject() @ValidateNested() @Type(() => BeneficiaryDto)
  beneficiary!: BeneficiaryDto;

  @ApiPropertyOptional({
    type: [String],
    example: ['L1', 'L3'],
    description:
      'The locations this profile serves (their enrollments may choose it, it may be their default), or ["*"] for every ' +
      'location of the partner, present and future. You must be Incentives admin of each (of every location for "*"). ' +
      'Default: the locations you are Incentives admin of (["*"] for an admin of every location).',
  })
  @OptionalNotNull() @IsArray() @ArrayMinSize(1) @ArrayMaxSize(200) @ArrayUnique() @IsString({ each: true }) @Length(1, 100, { each: true })
  locationIds?: string[];
}

/**
 * Any subset; `account` replaces the account details as a whole and is required when `country` changes. Changing only
 * `locationIds` is not a new revision (the bank details, which are what is validated, stay the same). A field left out
 * is kept; `null` is refused (400 naming it), not taken for "keep" (on an Action required profile that would submit it
 * again).
 */
export class UpdateBankProfileDto extends PartialType(CreateBankProfileDto, { skipNullProperties: false }) {}

/** The account as the API shows it: the secret (IBAN or account number) masked, the bank identifiers in clear. */
export class MaskedBankAccountDto {
  @ApiProperty({ enum: Object.keys(SCHEMES), description: 'How the country identifies accounts; decides which fields are present' })
  scheme!: AccountScheme;
  @ApiProperty({ example: '****3000', description: 'The IBAN or account number, masked' })
  maskedAccount!: string;
  @ApiPropertyOptional({ example: 'COBADEFFXXX' }) bic?: string;
  @ApiPropertyOptional({ example: '021000021' }) routingNumber?: string;
  @ApiPropertyOptional({ enum: ['CHECKING', 'SAVINGS'] }) accountType?: string;
  @ApiPropertyOptional() institutionNumber?: string;
  @ApiPropertyOptional() transitNumber?: string;
  @ApiPropertyOptional() bsb?: string;
  @ApiPropertyOptional() ifsc?: string;
  @ApiPropertyOptional() bankName?: string;
}

/** What the API shows of a bank profile (bankProfileView). createdAt/updatedAt are optional only in the stored type. */
export class BankProfileDto extends ProfileStateDto {
  @ApiProperty() profileId!: string;
  @ApiProperty({ enum: ['BANK'] }) profileKind!: 'BANK';
  @ApiProperty() partnerId!: string;
  @ApiProperty({ example: 'EUR main account' }) name!: string;
  @ApiProperty({ example: 'DE', description: 'Bank account country, ISO 3166-1 alpha-2' }) country!: string;
  @ApiProperty({ example: 'EUR', description: 'ISO 4217' }) currency!: string;
  @ApiProperty({ enum: PaymentMethods }) paymentMethod!: PaymentMethod;
  @ApiProperty({ type: BeneficiaryView }) beneficiary!: BeneficiaryView;
  @ApiProperty({ type: MaskedBankAccountDto }) account!: MaskedBankAccountDto;
  @ApiProperty({ type: [String], example: ['L1', 'L3'], description: 'The locations it serves that you hold a role on (all of them for company admins and admins of every location), or ["*"] for every location of the partner' })
  locationIds!: string[];
}

/** `limit` and `cursor` (PageQuery); nothing else. */
export class BankProfileListQueryDto extends PageQuery {}

export class BankProfileListDto {
  @ApiProperty({ type: [BankProfileDto] }) items!: BankProfileDto[];
  @ApiPropertyOptional({ description: 'Cursor of the next page: pass it as `cursor`; absent on the last page' }) nextCursor?: string;
}
