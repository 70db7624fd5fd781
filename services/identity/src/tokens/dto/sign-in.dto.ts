import { IsDeliverableEmail } from '@lib/platform';
import { ID_MESSAGE, ID_PATTERN } from '@lib/contracts';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches, MaxLength } from 'class-validator';

export class DevSignInInput {
  @ApiProperty({ example: 'ada@contoso.example' })
  @IsDeliverableEmail()
  @MaxLength(254)
  email!: string;

  @ApiPropertyOptional({ pattern: ID_PATTERN.source, description: 'Needed only when the email exists in several partners.' })
  @IsOptional()
  @Matches(ID_PATTERN, { message: `partnerId ${ID_MESSAGE}` })
  partnerId?: string;
}

export class TokenView {
  @ApiProperty() accessToken!: string;
  @ApiProperty({ example: 'Bearer' }) tokenType!: 'Bearer';
  @ApiProperty({ description: 'Seconds until the token expires.' }) expiresIn!: number;
}
