import { DateTime, OptionalNotNull } from '@lib/platform';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsInt, IsString, Max, MaxLength, Min, MinLength } from 'class-validator';
import { RESEND_BATCH } from '../../delivery/usecases/resend-failed-emails.use-case';

/** Either `notificationIds`, or a window (`failedSince`, with `failedBefore` and `partnerId` if wanted). */
export class ResendFailedEmailsDto {
  @ApiPropertyOptional({
    type: [String],
    maxItems: RESEND_BATCH,
    example: ['2f1c7c4e-3b0a-5d6e-9f1a-0c2b3d4e5f60:usr-1:EMAIL'],
    description:
      'These emails (the notificationId of their NotificationFailed, or of their dead letter on notification.deliveries.dlq). ' +
      'An email a digest gathered, named here, goes by itself; the digest named here goes again with the emails it gathered.',
  })
  @OptionalNotNull()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(RESEND_BATCH)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(300, { each: true })
  notificationIds?: string[];

  @ApiPropertyOptional({ example: '2026-12-07T03:00:00Z', description: 'The emails that failed from this instant on (a window; without notificationIds)' })
  @OptionalNotNull()
  @DateTime()
  failedSince?: string;

  @ApiPropertyOptional({ example: '2026-12-07T05:00:00Z', description: 'The window ends before this instant (default: now)' })
  @OptionalNotNull()
  @DateTime()
  failedBefore?: string;

  @ApiPropertyOptional({ example: 'ptn-contoso', description: "Only this partner's emails in the window" })
  @OptionalNotNull()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  partnerId?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: RESEND_BATCH, description: `A window: at most this many this request (default ${RESEND_BATCH}); ask again while remaining is above 0` })
  @OptionalNotNull()
  @IsInt()
  @Min(1)
  @Max(RESEND_BATCH)
  limit?: number;
}

export class NotResentDto {
  @ApiProperty() notificationId!: string;
  @ApiProperty({ example: 'it is SENT, not FAILED', description: 'Why it was not sent again (no such message, an inbox entry, not FAILED)' }) reason!: string;
}

export class ResendResultDto {
  @ApiProperty({ type: [String], description: 'The emails sent again by this request: each waits to be sent, its attempts from 0, and is checked as any waiting email is before it goes' })
  resent!: string[];
  @ApiProperty({ type: [NotResentDto], description: 'Emails asked for, or found in the window, that were not sent again' })
  notResent!: NotResentDto[];
  @ApiProperty({ description: `A window: the emails in it still FAILED, and not sent again since it began, that this request did not reach (at most ${RESEND_BATCH} a request): ask again until 0. With notificationIds: 0` })
  remaining!: number;
}
