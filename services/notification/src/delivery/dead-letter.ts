import { OutboxEntry } from '@lib/messaging';
import { Message } from '../messages/message.schema';
import { mailMessageId, nameUuid } from '../messages/notification-events';

/**
 * Emails that could not be delivered after the last attempt, as records a person or a tool can inspect and
 * resend. A dedicated topic, not `notifications.events.v1.dlq`: that one holds notification *events* a consumer
 * could not process (the platform convention), while these are undelivered messages of this service.
 */
export const DELIVERY_DLQ_TOPIC = 'notification.deliveries.dlq';

export interface DeadDelivery {
  notificationId: string;
  channel: string;
  partnerId: string;
  locationId?: string;
  userId: string;
  email: string;
  displayName?: string;
  template: string;
  subject: string;
  text: string;
  html?: string;
  link?: string;
  causationEventId: string;
  causationEventType: string;
  correlationId: string;
  mailMessageId: string;
  attempts: number;
  error: string;
  failedAt: string;
}

/**
 * The dead-letter record travels in the message's outbox, in the same write that marks it FAILED, so it is
 * published at least once even if the process stops right after that write. Key: partnerId.
 */
export function deadLetterEntry(message: Message, attempts: number, error: string, failedAt: Date): OutboxEntry {
  const record: DeadDelivery = {
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
  return {
    eventId: nameUuid(`${message._id}:dead-letter`),
    topic: DELIVERY_DLQ_TOPIC,
    key: message.partnerId,
    value: JSON.stringify(record),
    createdAt: failedAt,
  };
}
