import { Envelope, Topics } from '@lib/contracts';
import { TestKafka } from '@lib/testing';
import { CURRENT_FY, recipient, TestUser } from './world';

/** What the invitations service names an invitation by in every event about it. */
export interface InvitationKey {
  invitationId: string;
  programId: string;
  partnerId: string;
  locationId: string;
}

/** An event on invitations.events.v1, key locationId, source invitations (`occurredAt`: what the writer's clock said). */
export function publishInvitationEvent<T extends { partnerId: string; locationId: string }>(kafka: TestKafka, type: string, data: T, occurredAt?: Date): Promise<Envelope<T>> {
  return kafka.publishEvent(Topics.invitations, data.locationId, {
    type,
    source: 'invitations',
    partnerId: data.partnerId,
    locationId: data.locationId,
    data,
    ...(occurredAt && { occurredAt }),
  });
}

/** InvitationIssued / InvitationDelivered to these people, as invitationIssued() of the invitations service shapes it. */
export function issuedTo<T extends InvitationKey>(invitation: T, people: TestUser[]) {
  return {
    ...invitation,
    recipients: people.map(recipient),
    channels: ['EMAIL', 'NOTICE'],
    getStartedUrl: `http://portal.test/incentives/enroll?programId=${invitation.programId}&locationId=${invitation.locationId}&fiscalYear=${CURRENT_FY}`,
    requiresEligibility: true,
  };
}

/** The id of the email an event caused for a user. */
export const emailId = (event: Envelope, user: TestUser) => `${event.eventId}:${user.userId}:EMAIL`;
