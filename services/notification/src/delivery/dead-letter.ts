import { EmailDeadLettered, Topics } from '@lib/contracts';
import { EventOutbox, OutboxEntry, Trace } from '@lib/messaging';
import { Message } from '../messages/message.schema';
import { mailMessageId, nameUuid } from '../messages/notification-events';

/**
 * Emails that could not be delivered after the last attempt, for a person or a tool to inspect and resend:
 * EmailDeadLettered envelopes on `notification.deliveries.dlq` (Topics.deliveryDeadLetters). A dedicated topic, not
 * `notifications.events.v1.dlq`: that one holds notification *events* a consumer could not process (the platform
 * convention), while these are undelivered messages of this service.
 */
export const DELIVERY_DLQ_TOPIC = Topics.deliveryDeadLetters;

/**
 * The dead letter travels in the message's outbox, in the same write that marks it FAILED, so it is published at
 * least once even if the process stops right after that write. Key: partnerId; its event id is derived from the
 * message's, so a re-emitted one is the same event.
 */
export function deadLetterEntry(outbox: EventOutbox, message: Message, attempts: number, error: string, failedAt: Date): OutboxEntry {
  const data: EmailDeadLettered = {
    notificationId: message._id,
    channel: message.channel,
    partnerId: message.partnerId,
    ...(message.locationId !== undefined && { locationId: message.locationId }),
    userId: message.userId,
    email: message.email,
    ...(message.displayName !== undefined && { displayName: message.displayName }),
    template: message.template,
    subject: message.subject,
    text: message.text,
    ...(message.html !== undefined && { html: message.html }),
    ...(message.link !== undefined && { link: message.link }),
    causationEventId: message.causationEventId,
    causationEventType: message.causationEventType,
    correlationId: message.correlationId,
    mailMessageId: mailMessageId(message._id),
    attempts,
    error,
    failedAt: failedAt.toISOString(),
  };
  return Trace.run({ correlationId: message.correlationId, causationId: message.causationEventId }, () =>
    outbox.event(Topics.deliveryDeadLetters, {
      type: 'EmailDeadLettered',
      data,
      partnerId: message.partnerId,
      locationId: message.locationId,
      key: message.partnerId,
      eventId: nameUuid(`${message._id}:dead-letter`),
    }),
  );
}
