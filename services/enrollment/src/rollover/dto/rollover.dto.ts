import { FISCAL_YEAR_PATTERN } from '@lib/contracts';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';
import { ID_MESSAGE, ID_PATTERN } from '../../common/ids';

export class RolloverRequestDto {
  @ApiProperty({
    example: 'FY27',
    description: 'The fiscal year that ends: its ENROLLED enrollments continue into the next one, or not; once it is over, those never completed expire',
  })
  @Matches(FISCAL_YEAR_PATTERN, { message: 'fromFiscalYear must look like FY27' })
  fromFiscalYear!: string;

  @ApiPropertyOptional({ example: 'azure-growth', description: "Only this program's enrollments (default: every program's)" })
  @IsOptional()
  @Matches(ID_PATTERN, { message: `programId ${ID_MESSAGE}` })
  programId?: string;

  @ApiPropertyOptional({ description: 'Stop after this many enrollments (a bounded slice; run again to continue)' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  limit?: number;
}

export class RenewalRemindersRequestDto {
  @ApiPropertyOptional({ example: 'FY27', description: 'The fiscal year about to end; default: the current one' })
  @IsOptional()
  @Matches(FISCAL_YEAR_PATTERN, { message: 'fiscalYear must look like FY27' })
  fiscalYear?: string;
}

export class RolloverSummaryDto {
  @ApiProperty() fromFiscalYear!: string;
  @ApiPropertyOptional({ description: 'The program the run was limited to' }) programId?: string;
  @ApiProperty() toFiscalYear!: string;
  @ApiProperty() examined!: number;
  @ApiProperty({ description: 'Continued ENROLLED' }) renewed!: number;
  @ApiProperty({
    description:
      'Continued submitted by the rollover, following the validation of a profile revision not approved yet: VALIDATING, or ACTION_REQUIRED with the validator\'s reasons (rejected); ENROLLED once approved, with no Submit',
  })
  validating!: number;
  @ApiProperty({ description: "Continued ACTION_REQUIRED waiting for the admin (Continue, Submit): the payout information falls short of the program's rules" })
  actionRequired!: number;
  @ApiProperty() expired!: number;
  @ApiProperty({ description: 'Never completed (INVITED, ACTION_REQUIRED or VALIDATING, never ENROLLED) when the year ended: expired (counted in `expired`)' })
  unfinished!: number;
  @ApiProperty({ description: "Of a program discontinued before or during the run: left to the program's discontinuation (DISCONTINUED)" })
  discontinued!: number;
  @ApiProperty({ description: 'Already enrolled in the next year on their own' }) superseded!: number;
  @ApiProperty({ description: 'Finished after an interrupted run' }) resumed!: number;
  @ApiProperty({ description: 'Changed meanwhile; left for the next run' }) conflicts!: number;
  @ApiProperty() batches!: number;
  @ApiProperty() durationMs!: number;
  @ApiProperty({ description: 'Whether every event published before the run had been consumed' }) caughtUp!: boolean;
  @ApiProperty({ description: 'False when it stopped early, at `limit` or at shutdown (a rerun continues)' }) complete!: boolean;
}

export class ReminderSummaryDto {
  @ApiProperty() fiscalYear!: string;
  @ApiProperty() fiscalYearEndsAt!: string;
  @ApiProperty() examined!: number;
  @ApiProperty() reminded!: number;
  @ApiProperty() onTrack!: number;
  @ApiProperty() conflicts!: number;
  @ApiProperty() durationMs!: number;
  @ApiProperty({ description: 'False when shutdown stopped it early (a rerun continues)' }) complete!: boolean;
}
