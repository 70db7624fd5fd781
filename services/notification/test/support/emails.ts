import { randomUUID } from 'node:crypto';

/**
 * An EMAIL message as the service stores it, waiting to be sent (due now, no attempt yet); `fields` replace any
 * part. Its id is `${causationEventId}:${userId}:EMAIL`, as CreateMessages makes it.
 */
export function waitingEmail(fields: Record<string, unknown> = {}): Record<string, unknown> & { _id: string } {
  const userId = `u-${randomUUID().slice(0, 8)}`;
  const email = {
    channel: 'EMAIL',
    partnerId: 'p-emails',
    userId,
    email: `${userId}@contoso.example`,
    causationEventId: randomUUID(),
    causationEventType: 'InvitationIssued',
    correlationId: randomUUID(),
    template: 'invitation',
    subject: 'Invitation',
    text: 'Get Started',
    html: '<p>Get Started</p>',
    read: false,
    createdAt: new Date(),
    status: 'PENDING',
    attempts: 0,
    nextAttemptAt: new Date(),
    ...fields,
  };
  return { _id: `${email.causationEventId}:${email.userId}:EMAIL`, ...email };
}
