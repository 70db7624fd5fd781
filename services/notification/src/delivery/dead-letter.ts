import { EmailDeadLettered, NotificationFailed, Topics } from '@lib/contracts';
import { EventOutbox, OutboxEntry } from '@lib/messaging';
import { Message } from '../messages/message.schema';
import { messageEvent, outcomeData } from '../messages/notification-events';

/**
 * An email that could not be delivered after the last attempt, for a person or a tool to inspect and resend: an
 * EmailDeadLettered envelope on `notification.deliveries.dlq` (Topics.deliveryDeadLetters). A dedicated topic, not
 * `notifications.events.v1.dlq`: that one holds notification *events* a consumer could not process (the platform
 * convention), while these are undelivered messages of this service.
 * The dead letter travels in the message's outbox, in the same write that marks it FAILED, so it is published at
 * least once even if the process stops right after that write. Key: partnerId; its event id is derived from the
 * message's, so a re-emitted one is the same event.
 */
export function deadLetterEntry(outbox: EventOutbox, message: Message, attempts: number, error: string, failedAt: Date): OutboxEntry {
  const data: EmailDeadLettered = {
    ...(outcomeData(message, { attempts, error }) as NotificationFailed),
    partnerId: message.partnerId,
    ...(message.locationId !== undefined && { locationId: message.locationId }),
    ...(message.displayName !== undefined && { displayName: message.displayName }),
    subject: message.subject,
    text: message.text,
    ...(message.html !== undefined && { html: message.html }),
    ...(message.link !== undefined && { link: message.link }),
    correlationId: message.correlationId,
    failedAt: failedAt.toISOString(),
  };
  return messageEvent(outbox, Topics.deliveryDeadLetters, 'EmailDeadLettered', message, data, 'dead-letter');
}
