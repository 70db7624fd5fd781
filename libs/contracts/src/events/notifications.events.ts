import { IsEmail, IsIn, IsInt, IsISO8601, IsOptional, IsString, Min } from 'class-validator';

export const NotificationChannels = ['EMAIL', 'INBOX'] as const;
export type NotificationChannel = (typeof NotificationChannels)[number];

/** notifications.events.v1, key partnerId: what was sent, for notification consumers outside the platform. */
export class NotificationOutcome {
  @IsString() notificationId!: string;
  @IsString() userId!: string;
  @IsOptional() @IsEmail() email?: string;
  @IsIn(NotificationChannels) channel!: NotificationChannel;
  @IsString() template!: string;
  /** The eventId of the domain event that caused this message. */
  @IsString() causationEventId!: string;
  @IsInt() @Min(1) attempts!: number;
  /** The type of the domain event that caused this message (InvitationIssued, EnrollmentEnrolled...). */
  @IsOptional() @IsString() causationEventType?: string;
  /**
   * EMAIL only: the Message-ID header sent, the same on every attempt, so receivers can drop duplicates. An invitation
   * email sent within a digest (many invitations to one recipient in one email) carries the digest's: several
   * NotificationSent then name one email.
   */
  @IsOptional() @IsString() mailMessageId?: string;
}
export class NotificationSent extends NotificationOutcome {}
export class NotificationFailed extends NotificationOutcome {
  @IsString() error!: string;
}

export const NotificationEventTypes = { NotificationSent, NotificationFailed } as const;

/**
 * notification.deliveries.dlq, key partnerId: an email that finally failed (NotificationFailed says so on
 * notifications.events.v1), with everything needed to inspect or resend it: the rendered email and its recipient.
 * For operators and their tools; it holds the email's content, so its readers should be as restricted as the inbox's.
 */
export class EmailDeadLettered extends NotificationFailed {
  @IsString() partnerId!: string;
  @IsOptional() @IsString() locationId?: string;
  @IsOptional() @IsString() displayName?: string;
  @IsString() subject!: string;
  @IsString() text!: string;
  @IsOptional() @IsString() html?: string;
  @IsOptional() @IsString() link?: string;
  @IsString() correlationId!: string;
  @IsISO8601() failedAt!: string;
}

export const DeliveryDeadLetterTypes = { EmailDeadLettered } as const;
