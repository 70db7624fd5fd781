import { CURRENCIES } from '@lib/contracts';
import { PageQuery } from '@lib/platform';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsArray, IsIn, IsString, Length } from 'class-validator';
import type { AssignOutcome } from '../usecases/assign-default-bank-profile.use-case';

const AssignOutcomes: AssignOutcome[] = ['ASSIGNED', 'UNCHANGED'];

export class AssignDefaultBankProfileDto {
  @ApiProperty({ minLength: 1, maxLength: 100, description: 'A bank profile of your partner' }) @IsString() @Length(1, 100) bankProfileId!: string;
  @ApiProperty({ example: 'EUR', description: "ISO 4217; must be the bank profile's currency" })
  @IsIn(CURRENCIES, { message: 'currency must be a supported ISO 4217 currency code' })
  currency!: string;
}

export class AssignDefaultToLocationsDto extends AssignDefaultBankProfileDto {
  @ApiProperty({ type: [String], description: 'Locations to give this default; you must be Incentives admin of each' })
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(200) @ArrayUnique() @IsString({ each: true }) @Length(1, 100, { each: true })
  locationIds!: string[];
}

export class DefaultBankProfileDto {
  @ApiProperty() locationId!: string;
  @ApiProperty() bankProfileId!: string;
  @ApiProperty({ example: 'EUR' }) currency!: string;
  @ApiProperty({ example: 1, description: "Bumped by every change of the location's default; also the ETag" }) version!: number;
  @ApiProperty({ description: 'The user who made the last change' }) changedBy!: string;
  @ApiProperty({ type: String, format: 'date-time' }) changedAt!: Date;
}

export class AssignedDefaultBankProfileDto extends DefaultBankProfileDto {
  @ApiProperty({ enum: AssignOutcomes, description: 'UNCHANGED when it already was the default' }) outcome!: AssignOutcome;
}

/** `limit` and `cursor` (PageQuery); nothing else. */
export class DefaultBankProfileListQueryDto extends PageQuery {}

export class DefaultBankProfileListDto {
  @ApiProperty({ type: [DefaultBankProfileDto] }) items!: DefaultBankProfileDto[];
  @ApiPropertyOptional({ description: 'Cursor of the next page: pass it as `cursor`; absent on the last page' }) nextCursor?: string;
}

export class LocationAssignmentDto {
  @ApiProperty() locationId!: string;
  @ApiProperty({ enum: AssignOutcomes, description: 'UNCHANGED when it already was the default' }) outcome!: AssignOutcome;
  @ApiProperty({ example: 1, description: "The version of the location's default" }) version!: number;
}

export class DefaultAssignmentDto {
  @ApiProperty() bankProfileId!: string;
  @ApiProperty({ example: 'EUR' }) currency!: string;
  @ApiProperty({ type: [LocationAssignmentDto] }) locations!: LocationAssignmentDto[];
}
