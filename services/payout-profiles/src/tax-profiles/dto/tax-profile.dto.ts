import { COUNTRIES } from '@lib/contracts';
import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { DateTime, IsDeliverableEmail, OptionalNotNull, PageQuery, Text } from '@lib/platform';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { ProfileStateDto } from '../../profiles/dto/profile-state.dto';
import { AddressDto, AddressView } from '../../common/address.dto';
import { Incorporation, Incorporations, TaxForm, TaxForms } from '../tax-rules';

/** Some character that is not white space. */
const NOT_BLANK = /\S/;

export const DOCUMENT_TYPES = ['application/pdf', 'image/png', 'image/jpeg', 'image/tiff'];

export class BusinessProfileDto {
  @ApiProperty({ example: 'Contoso Ltd' }) @Text(200) legalName!: string;
  @ApiPropertyOptional() @OptionalNotNull() @Text(200) doingBusinessAs?: string;
  @ApiProperty({ type: AddressDto }) @IsObject() @ValidateNested() @Type(() => AddressDto) address!: AddressDto;
  @ApiPropertyOptional() @OptionalNotNull() @IsDeliverableEmail() contactEmail?: string;
}

/** A business profile as answers show it: the same fields, a schema of its own (BusinessProfileDto's is closed). */
export class BusinessProfileView extends BusinessProfileDto {
  @ApiProperty({ type: AddressView }) declare address: AddressView;
}

/** Metadata of an uploaded file (the file itself lives in the document store). */
export class TaxDocumentDto {
  @ApiProperty({ example: 'w-9-signed.pdf' })
  @Text(200) @Matches(/^[^/\\]+$/, { message: 'fileName must be a file name, not a path' })
  fileName!: string;
  @ApiProperty({ enum: DOCUMENT_TYPES }) @IsIn(DOCUMENT_TYPES) contentType!: string;
  @ApiProperty({ example: 182044 }) @IsInt() @Min(1) @Max(20 * 1024 * 1024) sizeBytes!: number;
  @ApiProperty({ example: '2026-05-01T10:00:00Z', format: 'date-time' }) @DateTime() uploadedAt!: string;
}

export class CreateTaxProfileDto {
  @ApiProperty({ type: BusinessProfileDto })
  @IsObject() @ValidateNested() @Type(() => BusinessProfileDto)
  businessProfile!: BusinessProfileDto;

  @ApiProperty({ enum: Incorporations }) @IsIn(Incorporations) incorporation!: Incorporation;

  @ApiProperty({ example: 'US', description: 'Country of incorporation, ISO 3166-1 alpha-2' })
  @IsIn(COUNTRIES, { message: 'incorporationCountry must be an ISO 3166-1 alpha-2 country code' })
  incorporationCountry!: string;

  @ApiPropertyOptional({ enum: TaxForms, description: 'W-9 for US, W-8BEN-E otherwise (derived when omitted)' })
  @OptionalNotNull() @IsIn(TaxForms) taxForm?: TaxForm;

  // Blank ("   ") is refused, not taken for "no tax id" (on a change that would silently remove the stored one).
  @ApiPropertyOptional({ type: String, minLength: 1, maxLength: 80, pattern: NOT_BLANK.source, example: '12-3456789', description: 'US TIN (required for US) or foreign TIN. Secret. Not blank.' })
  // At most 80 characters as typed or pasted (grouped with spaces, dots or dashes): the rules check the id without them.
  @IsOptional() @IsString() @Matches(NOT_BLANK, { message: 'taxId must not be blank' }) @Length(1, 80) taxId?: string | null;

  @ApiPropertyOptional({ type: String, minLength: 1, maxLength: 80, pattern: NOT_BLANK.source, example: 'DE123456789', description: 'Non-US only. Secret. Not blank.' })
  @IsOptional() @IsString() @Matches(NOT_BLANK, { message: 'vatId must not be blank' }) @Length(1, 80) vatId?: string | null;

  @ApiProperty({ type: [TaxDocumentDto] })
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(20) @IsObject({ each: true }) @ValidateNested({ each: true }) @Type(() => TaxDocumentDto)
  documents!: TaxDocumentDto[];

  @ApiProperty({ example: '2027-12-31', description: 'When the tax forms expire; must be in the future' })
  @DateTime()
  expiresAt!: string;
}

/**
 * Any subset. `taxId`/`vatId` omitted keep the stored ones (a change of incorporation or its country must send a
 * stored one again, or null: 400 otherwise); `null` removes them
 * (a US incorporation cannot drop its TIN: 400 "is required"). Any other field sent as `null` is refused (400 naming
 * it), not taken for "keep".
 */
export class UpdateTaxProfileDto extends PartialType(CreateTaxProfileDto, { skipNullProperties: false }) {
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: '12-3456789',
    description: 'US TIN or foreign TIN. Secret. Omitted: kept (with another incorporation or country: 400, send it or null); null: removed (non-US only, a US TIN is required). Not blank.',
  })
  @IsOptional() // null passes: it removes the stored one
  override taxId?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, example: 'DE123456789', description: 'Non-US only. Secret. Omitted: kept (with another incorporation country: 400, send it or null); null: removed. Not blank.' })
  @IsOptional() // null passes: it removes the stored one
  override vatId?: string | null;
}

/** A document's metadata as stored. */
export class StoredTaxDocumentDto {
  @ApiProperty({ example: 'w-9-signed.pdf' }) fileName!: string;
  @ApiProperty({ enum: DOCUMENT_TYPES }) contentType!: string;
  @ApiProperty({ example: 182044 }) sizeBytes!: number;
  @ApiProperty({ type: String, format: 'date-time' }) uploadedAt!: Date;
}

/** What the API shows of a tax profile (taxProfileView). createdAt/updatedAt are optional only in the stored type. */
export class TaxProfileDto extends ProfileStateDto {
  @ApiProperty() profileId!: string;
  @ApiProperty({ enum: ['TAX'] }) profileKind!: 'TAX';
  @ApiProperty() partnerId!: string;
  @ApiProperty() locationId!: string;
  @ApiProperty({ type: BusinessProfileView }) businessProfile!: BusinessProfileView;
  @ApiProperty({ enum: Incorporations }) incorporation!: Incorporation;
  @ApiProperty({ example: 'US', description: 'Country of incorporation, ISO 3166-1 alpha-2' }) incorporationCountry!: string;
  @ApiProperty({ enum: TaxForms }) taxForm!: TaxForm;
  @ApiProperty({ type: String, nullable: true, example: '****6789', description: 'The tax id, masked; null when there is none' })
  maskedTaxId!: string | null;
  @ApiProperty({ type: String, nullable: true, example: '****6789', description: 'The VAT id, masked; null when there is none' })
  maskedVatId!: string | null;
  @ApiProperty({ type: [StoredTaxDocumentDto] }) documents!: StoredTaxDocumentDto[];
  @ApiProperty({ type: String, format: 'date-time', description: 'When the tax forms expire' }) expiresAt!: Date;
}

/** `limit` and `cursor` (PageQuery); nothing else. */
export class TaxProfileListQueryDto extends PageQuery {}

export class TaxProfileListDto {
  @ApiProperty({ type: [TaxProfileDto] }) items!: TaxProfileDto[];
  @ApiPropertyOptional({ description: 'Cursor of the next page: pass it as `cursor`; absent on the last page' }) nextCursor?: string;
}
