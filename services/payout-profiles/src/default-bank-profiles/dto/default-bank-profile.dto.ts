import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsArray, IsIn, IsString, Length } from 'class-validator';
import { CURRENCIES } from '../../reference/currencies';

export class AssignDefaultBankProfileDto {
  @ApiProperty({ description: 'A bank profile of your partner' }) @IsString() @Length(1, 100) bankProfileId!: string;
  @ApiProperty({ example: 'EUR', description: "ISO 4217; must be the bank profile's currency" })
  @IsIn(CURRENCIES, { message: 'currency must be a supported ISO 4217 currency code' })
  currency!: string;
}

export class AssignDefaultToLocationsDto extends AssignDefaultBankProfileDto {
  @ApiProperty({ type: [String], description: 'Locations to give this default; you must be Incentives admin of each' })
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(200) @ArrayUnique() @IsString({ each: true }) @Length(1, 100, { each: true })
  locationIds!: string[];
}
