import { OperatorOnly, Problems } from '@lib/platform';
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
      'A window is worked through in slices: ask again while `remaining` is above 0.',
  })
  @ApiOkResponse({ type: ResendResultDto })
  @ApiServiceUnavailableResponse({ description: '`shutting-down`: this instance is stopping; ask again (another instance takes it)' })
  async resend(@Body() body: ResendFailedEmailsDto): Promise<ResendResultDto> {
    const now = new Date();
    if (body.notificationIds) {
      for (const field of ['failedSince', 'failedBefore', 'partnerId'] as const) {
        if (body[field] !== undefined) throw Problems.field(field, `${field} selects a window; send either notificationIds or a window, not both`);
      }
      return this.resendFailed.execute({ notificationIds: body.notificationIds }, now);
    }
    if (body.failedSince === undefined) throw Problems.field('failedSince', 'send notificationIds, or failedSince (the window of failures to send again)');
    const failedSince = new Date(body.failedSince);
    const failedBefore = body.failedBefore === undefined ? now : new Date(body.failedBefore);
    if (+failedBefore <= +failedSince) throw Problems.field('failedBefore', 'failedBefore must be later than failedSince');
    return this.resendFailed.execute({ failedSince, failedBefore, ...(body.partnerId !== undefined && { partnerId: body.partnerId }) }, now);
  }
}
