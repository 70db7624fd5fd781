import { ValidationOutcome, ValidationOutcomes } from '@lib/contracts';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, Length, Min } from 'class-validator';

export class RecordValidationDto {
  @ApiProperty({ example: 2, description: 'The profile revision this decision is about' })
  @IsInt() @Min(1) revision!: number;

  @ApiProperty({ enum: ValidationOutcomes }) @IsIn(ValidationOutcomes) outcome!: ValidationOutcome;

  @ApiPropertyOptional({ type: [String], example: ['Bank statement does not match the beneficiary name'], description: 'At least one for ACTION_REQUIRED' })
  @IsOptional() @IsArray() @ArrayMaxSize(20) @IsString({ each: true }) @Length(1, 500, { each: true })
  reasons?: string[];
}
