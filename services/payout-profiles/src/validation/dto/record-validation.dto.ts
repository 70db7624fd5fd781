import { MAX_REASON_LENGTH, MAX_REASONS, ValidationOutcome, ValidationOutcomes } from '@lib/contracts';
import { TextRules } from '@lib/platform';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, MaxLength, Min } from 'class-validator';

export class RecordValidationDto {
  @ApiProperty({ type: 'integer', minimum: 1, example: 2, description: 'The profile revision this decision is about' })
  @IsInt() @Min(1) revision!: number;

  @ApiProperty({ enum: ValidationOutcomes }) @IsIn(ValidationOutcomes) outcome!: ValidationOutcome;

  /**
   * Each reason a string with something visible and no control character (refused here with 400 "reasons must not be
   * blank", as Text). They are trimmed (and
   * repeated ones dropped) by ValidationResultCommand, which the back-office results go through too.
   */
  @ApiPropertyOptional({ type: [String], example: ['Bank statement does not match the beneficiary name'], description: "At least one for ACTION_REQUIRED. The profile's secrets quoted here (and runs of 8+ digits) are stored and published masked" })
  // The contract's bounds, as a back-office result on the topic has them (the two ways are recorded alike).
  @IsOptional() @IsArray() @ArrayMaxSize(MAX_REASONS)
  @IsString({ each: true }) @TextRules({ each: true }) @MaxLength(MAX_REASON_LENGTH, { each: true })
  reasons?: string[];
}
