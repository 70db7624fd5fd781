import { ValidationOutcome, ValidationOutcomes } from '@lib/contracts';
import { ApiProperty } from '@nestjs/swagger';
import { ValidationEffect, ValidationEffects, ValidationSource, ValidationSources } from '../profile.parts';

/** One validation result received for a profile (bank or tax), as the API shows it. */
export class ValidationRecordDto {
  @ApiProperty({ example: 1, description: 'The revision the result was about' }) revision!: number;
  @ApiProperty({ enum: ValidationOutcomes }) outcome!: ValidationOutcome;
  @ApiProperty({ type: [String] }) reasons!: string[];
  @ApiProperty({ enum: ValidationSources }) source!: ValidationSource;
  @ApiProperty({
    enum: ValidationEffects,
    description: 'APPLIED: it decided the revision; OUTDATED: it was for an older revision; ALREADY_DECIDED: the revision had another decision, which stands; CONFIRMED: the revision had the same outcome already, whose reasons stand',
  })
  effect!: ValidationEffect;
  @ApiProperty({ type: String, format: 'date-time' }) receivedAt!: Date;
}
