import { FISCAL_YEAR_PATTERN, IsFiscalYear } from '@lib/contracts';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length } from 'class-validator';

export class ReadinessQueryDto {
  @ApiProperty({ minLength: 1, maxLength: 100 }) @IsString() @Length(1, 100) programId!: string;
  @ApiProperty({ minLength: 1, maxLength: 100 }) @IsString() @Length(1, 100) locationId!: string;
  @ApiPropertyOptional({ minLength: 1, maxLength: 100, description: "A bank profile of your partner; the location's default when omitted" })
  @IsOptional() @IsString() @Length(1, 100) bankProfileId?: string;
  @ApiPropertyOptional({
    pattern: FISCAL_YEAR_PATTERN.source,
    example: 'FY28',
    description: "The enrollment's fiscal year, whose payout information is judged; by default the program's, or the current one once the program's is over (a continuation made before the program moved on)",
  })
  @IsOptional()
  @IsFiscalYear()
  fiscalYear?: string;
}
