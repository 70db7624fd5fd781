import { deterministicId, NotificationCancelled, NotificationFailed, NotificationSent, NotificationSubject, Topic, Topics } from '@lib/contracts';
import { EventOutbox, OutboxEntry, Trace } from '@lib/messaging';
import { Message } from './message.schema';

export const MAIL_DOMAIN = 'incentives.local';

/**
 * The Message-ID header of an email: derived from the message id alone, so every attempt (and a resend after a
 * crash in the middle of a send) carries the same one and receivers can recognise the duplicate.
 * `eventId:userId:EMAIL` becomes `eventId.userId.EMAIL`: a colon is not allowed on the left of a Message-ID.
 */
export function mailMessageId(id: string): string {
  return `<${id.replace(/[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]/g, '.')}@${MAIL_DOMAIN}>`;
}

/** A UUID (version 5 layout) derived from a name: the same fact always gets the same eventId. */
export function nameUuid(name: string): string {
  return deterministicId(`notification:${name}`);
}

type Outcome = Pick<
  Message,
  '_id' | 'userId' | 'email' | 'channel' | 'template' | 'causationEventId' | 'causationEventType' | 'correlationId' | 'partnerId' | 'locationId'
> &
  Partial<Pick<Message, 'invitation' | 'enrollmentStatus' | 'enrollmentId' | 'profile' | 'resends'>>;

/** Which message, to whom, about what: what every outcome event says of it. */
function subjectOf(message: Outcome): NotificationSubject {
  return {
    notificationId: message._id,
    userId: message.userId,
    email: message.email,
    channel: message.channel,
    template: message.template,
    causationEventId: message.causationEventId,
    causationEventType: message.causationEventType,
    ...(message.locationId !== undefined && { locationId: message.locationId }),
    ...(message.invitation && { invitationId: message.invitation.invitationId }),
    ...((message.enrollmentId ?? message.enrollmentStatus) && { enrollmentId: message.enrollmentId ?? message.enrollmentStatus!.enrollmentId }),
    ...(message.profile && { profileId: message.profile.profileId }),
    ...(message.resends && { resend: message.resends }),
  };
}

/**
 * What NotificationSent / NotificationFailed say of one message (EmailDeadLettered says it too, and more). `sentAs`: the
 * id of the email that carried it, when not its own (an invitation email gathered into a digest): its Message-ID.
 */
export function outcomeData(message: Outcome, outcome: { attempts: number; error?: string; sentAs?: string }): NotificationSent | NotificationFailed {
  return {
    ...subjectOf(message),
    attempts: outcome.attempts,
    ...(message.channel === 'EMAIL' && { mailMessageId: mailMessageId(outcome.sentAs ?? message._id) }),
    ...(outcome.error !== undefined && { error: outcome.error }),
  };
}

/**
 * An event about one message, traced to the event that caused it, keyed by partner, its id derived from the message's,
 * `name`, and the operator's resend it follows, if any (the same fact always gets the same eventId; an outcome after a
 * resend is another fact than the failure before it).
 */
export function messageEvent(outbox: EventOutbox, topic: Topic, type: string, message: Outcome, data: object, name = type): OutboxEntry {
  return Trace.run({ correlationId: message.correlationId, causationId: message.causationEventId }, () =>
    outbox.event(topic, {
      type,
      data,
      partnerId: message.partnerId,
      locationId: message.locationId,
      key: message.partnerId,
      eventId: nameUuid(`${message._id}:${name}${message.resends ? `:resend:${message.resends}` : ''}`),
    }),
  );
}

/** NotificationSent / NotificationFailed for one message, on notifications.events.v1. */
export function outcomeEvent(outbox: EventOutbox, message: Outcome, outcome: { attempts: number; error?: string; sentAs?: string }): OutboxEntry {
  const type = outcome.error === undefined ? 'NotificationSent' : 'NotificationFailed';
  return messageEvent(outbox, Topics.notifications, type, message, outcomeData(message, outcome));
}

/**
 * NotificationCancelled for an email withdrawn before it was sent: `attempts`, the delivery attempts begun; `handedOver`, what
 * it asked was told to whoever holds the role its recipient left (HandOverMessages).
 */
export function cancelledEvent(outbox: EventOutbox, message: Outcome, cancelled: { attempts: number; reason: string; handedOver?: boolean }): OutboxEntry {
  const data: NotificationCancelled = {
    ...subjectOf(message),
    attempts: cancelled.attempts,
    reason: cancelled.reason,
    ...(cancelled.handedOver && { handedOver: true }),
  };
  return messageEvent(outbox, Topics.notifications, 'NotificationCancelled', message, data);
}
