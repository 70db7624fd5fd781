import { IsBoolean, IsEmail, IsIn, IsInt, IsISO8601, IsOptional, IsString, Min } from 'class-validator';
import { JSONSchema } from 'class-validator-jsonschema';

export const NotificationChannels = ['EMAIL', 'INBOX'] as const;
export type NotificationChannel = (typeof NotificationChannels)[number];

/**
 * notifications.events.v1, key partnerId: what became of each message (one recipient, one channel), for notification
 * consumers outside the platform. Each message (`notificationId`) ends in one of NotificationSent, NotificationFailed or
 * NotificationCancelled; consumers take `notificationId` as the entity (the last outcome wins) and drop repeats by the
 * envelope's eventId.
 */
export class NotificationSubject {
  @JSONSchema({ description: 'The message: `<causationEventId>:<userId>:<channel>`.' })
  @IsString() notificationId!: string;
  @JSONSchema({ description: "The recipient: a user of the envelope's partner, except on a NotificationCancelled whose reason is \"recipient is not a user of the message's partner\" (an event named them by mistake; nothing was sent)." })
  @IsString() userId!: string;
  @JSONSchema({ description: "Where the email went, or would have (also on INBOX messages: the recipient's address then)." })
  @IsOptional() @IsEmail() email?: string;
  @IsIn(NotificationChannels) channel!: NotificationChannel;
  @JSONSchema({ description: 'What it says (invitation, enrollment-action-required, profile-action-required, ...).' })
  @IsString() template!: string;
  @JSONSchema({ description: 'The eventId of the domain event that caused this message.' })
  @IsString() causationEventId!: string;
  @JSONSchema({ description: 'The type of the domain event that caused this message (InvitationIssued, EnrollmentEnrolled...).' })
  @IsOptional() @IsString() causationEventType?: string;
  @JSONSchema({ description: "The location it is about, when it is about one (a bank profile's message is about the partner's profile)." })
  @IsOptional() @IsString() locationId?: string;
  @JSONSchema({ description: 'The invitation it is about (invitation messages).' })
  @IsOptional() @IsString() invitationId?: string;
  @JSONSchema({ description: 'The enrollment it is about (enrollment messages).' })
  @IsOptional() @IsString() enrollmentId?: string;
  @JSONSchema({ description: 'The bank or tax profile it is about (profile messages).' })
  @IsOptional() @IsString() profileId?: string;
  @JSONSchema({
    description:
      'EMAIL: the email FAILED before, and an operator sent it again (1: the first resend); absent otherwise. It follows a NotificationFailed of the same notificationId, and has an eventId of its own; its attempts count from the resend.',
  })
  @IsOptional() @IsInt() @Min(1) resend?: number;
}

/** A message delivered (NotificationSent) or finally failed (NotificationFailed). */
export class NotificationOutcome extends NotificationSubject {
  @JSONSchema({ description: "SMTP attempts made (an INBOX entry: 1, written once; an email gathered into a digest: the digest's)." })
  @IsInt() @Min(1) attempts!: number;
  @JSONSchema({ description: "EMAIL only: the Message-ID header sent, the same on every attempt, so receivers can drop duplicates. An invitation email sent within a digest (many invitations to one recipient in one email) carries the digest's: several NotificationSent then name one email." })
  @IsOptional() @IsString() mailMessageId?: string;
}
export class NotificationSent extends NotificationOutcome {}
export class NotificationFailed extends NotificationOutcome {
  @JSONSchema({ description: 'The last SMTP answer or error.' })
  @IsString() error!: string;
}

/**
 * An email withdrawn before it was sent, because what it said stopped being true while it waited (an invitation
 * revoked, a later change of the enrollment told, a profile changed since, its moment passed), or because its recipient
 * left: deactivated, or no longer in the role it was addressed for. Nothing was sent.
 */
export class NotificationCancelled extends NotificationSubject {
  @JSONSchema({ description: 'Delivery attempts begun before it was withdrawn, each a worker taking the email (0: none; an invitation email gathered into a digest: 0).' })
  @IsInt() @Min(0) attempts!: number;
  @JSONSchema({ description: 'Why, in words.' })
  @IsString() reason!: string;
  @JSONSchema({ description: 'Its recipient left, and what it asks was told to whoever holds the role now: their messages have the same causationEventId.' })
  @IsOptional() @IsBoolean() handedOver?: boolean;
}

export const NotificationEventTypes = { NotificationSent, NotificationFailed, NotificationCancelled } as const;

/**
 * notification.deliveries.dlq, key partnerId: an email that finally failed (NotificationFailed says so on
 * notifications.events.v1), with everything needed to inspect or resend it: the rendered email and its recipient.
 * For operators and their tools; it holds the email's content, so its readers should be as restricted as the inbox's.
 */
export class EmailDeadLettered extends NotificationFailed {
  @IsString() partnerId!: string;
  @IsOptional() @IsString() displayName?: string;
  @IsString() subject!: string;
  @IsString() text!: string;
  @IsOptional() @IsString() html?: string;
  @IsOptional() @IsString() link?: string;
  @IsString() correlationId!: string;
  @IsISO8601() failedAt!: string;
}

export const DeliveryDeadLetterTypes = { EmailDeadLettered } as const;
