import { OperatorOnly } from '@lib/platform';
import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiSecurity, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { ResendFailedEmails } from '../delivery/usecases/resend-failed-emails.use-case';
import { ResendFailedEmailsDto, ResendResultDto } from './dto/resend.dto';

/** Platform operators (X-Operator-Key). */
@ApiTags('operator')
@ApiSecurity('operator')
@OperatorOnly()
@Controller('v1/operator')
export class OperatorController {
  constructor(private readonly resendFailed: ResendFailedEmails) {}

  @Post('emails/resend')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Send failed emails again (after an SMTP outage longer than their attempts): by id, or those that failed in a window',
    description:
      'Each FAILED email waits to be sent again, its attempts from 0, and is checked as any waiting email is before it goes: ' +
      'withdrawn (NotificationCancelled) when what it says is no longer true or its recipient left. Its outcome events carry `resend`. ' +
      'A window is worked through in slices: ask again while `remaining` is above 0 (an email sent again since the window began is not taken back).',
  })
  @ApiOkResponse({ type: ResendResultDto })
  @ApiServiceUnavailableResponse({ description: '`shutting-down`: this instance is stopping; ask again (another instance takes it)' })
  async resend(@Body() body: ResendFailedEmailsDto): Promise<ResendResultDto> {
    const instant = (value: string | undefined) => (value === undefined ? undefined : new Date(value));
    return this.resendFailed.execute({
      notificationIds: body.notificationIds,
      failedSince: instant(body.failedSince),
      failedBefore: instant(body.failedBefore),
      partnerId: body.partnerId,
      limit: body.limit,
    });
  }
}
