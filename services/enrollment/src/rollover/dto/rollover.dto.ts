import { FISCAL_YEAR_PATTERN, ID_MESSAGE, ID_PATTERN, IsFiscalYear } from '@lib/contracts';
import { OptionalNotNull } from '@lib/platform';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { REMINDERS_PER_YEAR } from '../usecases/send-renewal-reminders.use-case';

export class RolloverRequestDto {
  @ApiProperty({
    pattern: FISCAL_YEAR_PATTERN.source, example: 'FY27',
    description: 'The fiscal year that ends: its ENROLLED enrollments continue into the next one, or not; once it is over, those never completed expire',
  })
  @IsFiscalYear()
  fromFiscalYear!: string;

  @ApiPropertyOptional({ pattern: ID_PATTERN.source, example: 'azure-growth', description: "Only this program's enrollments (default: every program's)" })
  @OptionalNotNull()
  @Matches(ID_PATTERN, { message: `programId ${ID_MESSAGE}` })
  programId?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 10_000_000, description: 'Stop after this many enrollments (a bounded slice; run again to continue)' })
  @OptionalNotNull()
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  limit?: number;

  @ApiPropertyOptional({
    example: '0e0d5b1f-9579-57ed-b9b6-7beec48a9942',
    description:
      "Look only at enrollments after this one (`resumeAfter` of the previous run stopped at `limit`): an early run leaves the ones that will not continue unmarked, so without it a rerun looks at them again before any other",
  })
  @OptionalNotNull()
  @IsString()
  @MaxLength(200)
  after?: string;

  @ApiPropertyOptional({
    default: false,
    description:
      'Decide even if this service has not consumed every eligibility, agreement and profile event published before the run (ROLLOVER_CATCH_UP_TIMEOUT_MS ran out, or its lag could not be read). Without it such a run decides nothing and answers 503 (Retry-After): renewals and expiries decided on stale views cannot be taken back. With it, the summary says `caughtUp: false`',
  })
  @OptionalNotNull()
  @IsBoolean()
  force?: boolean;

  @ApiPropertyOptional({
    default: false,
    description:
      'End the year now, on purpose (a business decision to close it early, or a test environment): decide as at its end, so the enrollments that will not continue expire now, and those never completed too. Without it a run before the year is over only continues enrollments and leaves the others valid until the year ends (`leftForYearEnd`)',
  })
  @OptionalNotNull()
  @IsBoolean()
  endYearNow?: boolean;
}

export class RenewalRemindersRequestDto {
  @ApiPropertyOptional({ pattern: FISCAL_YEAR_PATTERN.source, example: 'FY27', description: 'The fiscal year about to end; default: the current one' })
  @OptionalNotNull()
  @IsFiscalYear()
  fiscalYear?: string;

  @ApiPropertyOptional({
    default: false,
    description:
      'Send even if this service has not consumed every eligibility, agreement and profile event published before the run. Without it such a run sends nothing and answers 503 (Retry-After): a reminder decided on stale views tells of a problem that may be gone. With it, the summary says `caughtUp: false`',
  })
  @OptionalNotNull()
  @IsBoolean()
  force?: boolean;
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
  @ApiProperty({
    description:
      'Completed ones that will not continue, met by a run before their year is over: still valid until it ends, so left ENROLLED and unmarked for a run once the year is over to expire them (not counted in `expired`)',
  })
  leftForYearEnd!: number;
  @ApiProperty({
    description:
      "Run once the year is over: continuations an operator's early run made, decided again on eligibility and the agreement as they are now (the payout information is the continuation's own business by then)",
  })
  earlyReviewed!: number;
  @ApiProperty({ description: 'Of earlyReviewed: still continuing; left as they are' }) earlyConfirmed!: number;
  @ApiProperty({
    description: 'Of earlyReviewed: no longer eligible for the next year or the agreement inactive: EXPIRED with the reasons (counted in `expired` too), their continuation INELIGIBLE',
  })
  earlyUndone!: number;
  @ApiProperty({
    description:
      'Of earlyReviewed: still continuing, but their continuation ended INELIGIBLE since (a decision now overruled): unmarked and decided again by this run as at year end (counted there too)',
  })
  earlyReopened!: number;
  @ApiProperty({ description: 'Never completed (INVITED, ACTION_REQUIRED or VALIDATING, never ENROLLED) when the year ended: expired (counted in `expired`)' })
  unfinished!: number;
  @ApiProperty({ description: "Of a program discontinued before or during the run: left to the program's discontinuation (DISCONTINUED)" })
  discontinued!: number;
  @ApiProperty({ description: 'Already enrolled in the next year on their own' }) superseded!: number;
  @ApiProperty({ description: 'Finished after an interrupted run' }) resumed!: number;
  @ApiProperty({
    description:
      "Of resumed: continuations an operator's early run made and stopped before it marked them, met once the year is over: reviewed as earlyReviewed after the main pass (counted there too)",
  })
  earlyResumed!: number;
  @ApiProperty({ description: 'Changed meanwhile; left for the next run' }) conflicts!: number;
  @ApiProperty() batches!: number;
  @ApiProperty() durationMs!: number;
  @ApiProperty({ description: 'Whether every event published before the run had been consumed (false only in a run with `force`: otherwise it answers 503)' })
  caughtUp!: boolean;
  @ApiProperty({ description: 'False when it stopped early, at `limit` or at shutdown (a rerun continues)' }) complete!: boolean;
  @ApiPropertyOptional({
    description:
      'An early run (before the year is over) stopped at `limit`: the last enrollment it looked at; send it as `after` to go on from there. Once the year is over, none: run again without `after` (every run marks what it decides)',
  })
  resumeAfter?: string;
}

export class ReminderSummaryDto {
  @ApiProperty() fiscalYear!: string;
  @ApiProperty() fiscalYearEndsAt!: string;
  @ApiProperty() examined!: number;
  @ApiProperty() reminded!: number;
  @ApiProperty({ description: `At risk as they were when a reminder told them (or reminded ${REMINDERS_PER_YEAR} times this year): not reminded again` })
  remindedBefore!: number;
  @ApiProperty() onTrack!: number;
  @ApiProperty() conflicts!: number;
  @ApiProperty() durationMs!: number;
  @ApiProperty({ description: 'Whether every event published before the run had been consumed (false only in a run with `force`: otherwise it answers 503)' })
  caughtUp!: boolean;
  @ApiProperty({ description: 'False when shutdown stopped it early (a rerun continues)' }) complete!: boolean;
}
