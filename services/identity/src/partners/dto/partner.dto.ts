import { COUNTRIES, ID_MESSAGE, ID_PATTERN } from '@lib/contracts';
import { IsDeliverableEmail, Text } from '@lib/platform';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsOptional,
  Matches,
  MaxLength,
  ValidateNested,
  IsObject,
} from 'class-validator';

export class LocationInput {
  @ApiProperty({ pattern: ID_PATTERN.source, example: '5000123', description: 'The location PartnerID (MPN location id), unique platform-wide.' })
  @Matches(ID_PATTERN, { message: `locationId ${ID_MESSAGE}` })
  locationId!: string;

  @ApiProperty({ example: 'DE', description: 'ISO 3166-1 alpha-2 country code (or XK, Kosovo, as banks use it): the countries bank and tax profiles take.' })
  // Any case (stored upper-case), as before; the list is the one payout-profiles checks bank and tax profiles by.
  @Transform(({ value }) => (typeof value === 'string' ? value.toUpperCase() : value))
  @IsIn(COUNTRIES, { message: 'country must be an ISO 3166-1 alpha-2 code such as "DE"' })
  country!: string;

  @ApiProperty({ example: 'Contoso Deutschland GmbH' })
  @Text(200)
  legalName!: string;
}

export class GlobalAdminInput {
  @ApiProperty({ example: 'ada@contoso.example' })
  @IsDeliverableEmail()
  @MaxLength(254)
  email!: string;

  @ApiProperty({ example: 'Ada Lovelace' })
  @Text(200)
  displayName!: string;
}

export class RegisterPartnerInput {
  @ApiPropertyOptional({ pattern: ID_PATTERN.source, example: 'contoso', description: 'The global account id; generated (UUID) when absent.' })
  @IsOptional()
  @Matches(ID_PATTERN, { message: `partnerId ${ID_MESSAGE}` })
  partnerId?: string;

  @ApiProperty({ example: 'Contoso Ltd' })
  @Text(200)
  name!: string;

  @ApiProperty({ type: [LocationInput] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(500)
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => LocationInput)
  locations!: LocationInput[];

  @ApiProperty({ type: GlobalAdminInput, description: 'The first Global admin of the partner.' })
  @IsObject()
  @ValidateNested()
  @Type(() => GlobalAdminInput)
  globalAdmin!: GlobalAdminInput;
}

export class LocationView {
  @ApiProperty() locationId!: string;
  @ApiProperty() country!: string;
  @ApiProperty() legalName!: string;
}

export class PartnerView {
  @ApiProperty() partnerId!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ type: [LocationView] }) locations!: LocationView[];
  @ApiPropertyOptional({ description: 'The first Global admin (answer of the registration only).' })
  globalAdminUserId?: string;
}
