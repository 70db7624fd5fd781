import { fiscalYearOf } from '@lib/contracts';
import { Clock, OperatorOnly } from '@lib/platform';
import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiSecurity, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { ReminderSummaryDto, RenewalRemindersRequestDto, RolloverRequestDto, RolloverSummaryDto } from './dto/rollover.dto';
import { RollOverFiscalYear } from './usecases/roll-over-fiscal-year.use-case';
import { SendRenewalReminders } from './usecases/send-renewal-reminders.use-case';

const BEHIND =
  'Nothing decided: this service has not consumed every event the decisions read (consumer-behind; Retry-After: ROLLOVER_RETRY_MS), or dead-lettered one of them and has not applied it since (inputs-dead-lettered, with `deadLetters`: replay them with `npm run dlq`), or it is shutting down. Send `force: true` to decide on the views as they are';

@ApiTags('operator')
@ApiSecurity('operator')
@OperatorOnly()
@Controller('v1/operator')
export class RolloverController {
  constructor(
    private readonly rollOver: RollOverFiscalYear,
    private readonly reminders: SendRenewalReminders,
    private readonly clock: Clock,
  ) {}

  @Post('rollover')
  @HttpCode(200)
  @ApiOperation({ summary: 'Run the fiscal-year rollover of an ending year now (idempotent, resumable); answers when done' })
  @ApiOkResponse({ type: RolloverSummaryDto })
  @ApiConflictResponse({ description: 'A rollover of that year is running, in this instance or another (busy; Retry-After: when its lease runs out)' })
  @ApiNotFoundResponse({ description: 'No program with that programId' })
  @ApiServiceUnavailableResponse({ description: BEHIND })
  async rollover(@Body() body: RolloverRequestDto): Promise<RolloverSummaryDto> {
    return this.rollOver.execute(body);
  }

  @Post('renewal-reminders')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send the renewal reminders of a fiscal year now (each enrollment at most once per year)' })
  @ApiOkResponse({ type: ReminderSummaryDto })
  @ApiConflictResponse({ description: 'fiscal-year-ended: the year is over; fiscal-year-not-started: it has not begun; reminders-not-due: before its last RENEWAL_REMINDER_DAYS (`remindersFrom`; Retry-After: the seconds until then)' })
  @ApiServiceUnavailableResponse({ description: BEHIND })
  async renewalReminders(@Body() body: RenewalRemindersRequestDto): Promise<ReminderSummaryDto> {
    return this.reminders.execute({ fiscalYear: body.fiscalYear ?? fiscalYearOf(this.clock.now()), force: body.force });
  }
}
