import { COUNTRIES } from '@lib/contracts';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { OptionalNotNull, Text } from '@lib/platform';
import { IsIn } from 'class-validator';

export class AddressDto {
  @ApiProperty({ example: '1 Main Street' }) @Text(200) line1!: string;
  @ApiPropertyOptional() @OptionalNotNull() @Text(200) line2?: string;
  @ApiProperty({ example: 'Berlin' }) @Text(100) city!: string;
  @ApiPropertyOptional() @OptionalNotNull() @Text(100) region?: string;
  @ApiPropertyOptional({ example: '10115' }) @OptionalNotNull() @Text(20) postalCode?: string;
  @ApiProperty({ example: 'DE', description: 'ISO 3166-1 alpha-2' })
  @IsIn(COUNTRIES, { message: 'country must be an ISO 3166-1 alpha-2 country code' })
  country!: string;
}

/** An address as answers show it: the same fields, a schema of its own (AddressDto's, which requests send, is closed). */
export class AddressView extends AddressDto {}
