import { ValidationOutcome, ValidationOutcomes } from '@lib/contracts';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, MaxLength, MinLength, Min } from 'class-validator';

export class RecordValidationDto {
  @ApiProperty({ example: 2, description: 'The profile revision this decision is about' })
  @IsInt() @Min(1) revision!: number;

  @ApiProperty({ enum: ValidationOutcomes }) @IsIn(ValidationOutcomes) outcome!: ValidationOutcome;

  /** Each reason as `Text(500)` does for one field (trimmed, not blank), which has no form for a list. */
  @ApiPropertyOptional({ type: [String], example: ['Bank statement does not match the beneficiary name'], description: 'At least one for ACTION_REQUIRED' })
  @IsOptional() @IsArray() @ArrayMaxSize(20)
  @Transform(({ value }) => (Array.isArray(value) ? value.map((v) => (typeof v === 'string' ? v.trim() : v)) : value))
  @IsString({ each: true }) @MinLength(1, { each: true, message: 'reasons must not be blank' }) @MaxLength(500, { each: true })
  reasons?: string[];
}
