import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length } from 'class-validator';
import { COUNTRIES } from '../reference/countries';

export class AddressDto {
  @ApiProperty({ example: '1 Main Street' }) @IsString() @Length(1, 200) line1!: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 200) line2?: string;
  @ApiProperty({ example: 'Berlin' }) @IsString() @Length(1, 100) city!: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 100) region?: string;
  @ApiPropertyOptional({ example: '10115' }) @IsOptional() @IsString() @Length(1, 20) postalCode?: string;
  @ApiProperty({ example: 'DE', description: 'ISO 3166-1 alpha-2' })
  @IsIn(COUNTRIES, { message: 'country must be an ISO 3166-1 alpha-2 country code' })
  country!: string;
}
