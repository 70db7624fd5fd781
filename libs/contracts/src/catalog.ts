import { EnrollmentEventTypes } from './events/enrollments.events';
import { AgreementStatusChanged, EligibilityDetermined, ProfileValidationCompleted } from './events/external.events';
import { IdentityEventTypes } from './events/identity.events';
import { InvitationEventTypes } from './events/invitations.events';
import { DeliveryDeadLetterTypes, NotificationEventTypes } from './events/notifications.events';
import { PayoutProfileEventTypes, ProfileEventTypes, ProfileValidationRequested } from './events/payout-profiles.events';
import { ProgramEventTypes } from './events/programs.events';
import { Topic, Topics } from './topics';

type PayloadClass = new () => object;

export interface TopicContract {
  topic: Topic;
  description: string;
  /** What the message key is (the outbox keys by this field when the producer names no key). */
  key: 'partnerId' | 'locationId' | 'programId';
  /** Event types of the topic that are keyed otherwise than by `key`, and how. */
  keyExceptions?: Record<string, string>;
  /** Who writes it: a platform service or a system outside. */
  producer: string;
  /** False for a topic no consumer reads in the platform and that is a dead letter itself: no `.dlq` of its own. */
  deadLetters?: false;
  types: Record<string, PayloadClass>;
}

/** A bank profile belongs to the whole partner, so its events are partner-wide; a tax profile to one location. */
const PROFILE_KEY = 'locationId of a TAX profile, partnerId of a BANK profile (partner-wide)';

/** Every topic, its key and the payload class of each event type. The AsyncAPI document is checked against it. */
export const CATALOG: Record<Topic, TopicContract> = {
  [Topics.identity]: {
    topic: Topics.identity,
    description: 'Partners, locations, users and incentive roles. User events carry the full user snapshot.',
    key: 'partnerId',
    producer: 'identity',
    types: IdentityEventTypes,
  },
  [Topics.eligibility]: {
    topic: Topics.eligibility,
    description: 'Eligibility decisions per (program, location, fiscal year), from eligibility systems.',
    key: 'locationId',
    producer: 'external: eligibility systems',
    types: { EligibilityDetermined },
  },
  [Topics.agreements]: {
    topic: Topics.agreements,
    description: "Whether a partner's agreement is active, from the agreements system.",
    key: 'partnerId',
    producer: 'external: agreements system',
    types: { AgreementStatusChanged },
  },
  [Topics.programs]: {
    topic: Topics.programs,
    description: 'The program catalog. Every event carries the full program snapshot.',
    key: 'programId',
    producer: 'enrollment',
    types: ProgramEventTypes,
  },
  [Topics.enrollments]: {
    topic: Topics.enrollments,
    description: 'Every enrollment status change, with reasons (and a new reason while ACTION_REQUIRED), and renewal reminders.',
    key: 'locationId',
    producer: 'enrollment',
    types: EnrollmentEventTypes,
  },
  [Topics.invitations]: {
    topic: Topics.invitations,
    description: 'Invitations issued, delivered to late admins, revoked; admin-needed requests; notices selected.',
    key: 'locationId',
    producer: 'invitations',
    types: InvitationEventTypes,
  },
  [Topics.payoutProfiles]: {
    topic: Topics.payoutProfiles,
    description: 'Bank and tax profile lifecycle and default bank profiles. Never carries secrets.',
    key: 'locationId',
    keyExceptions: Object.fromEntries(ProfileEventTypes.map((type) => [type, PROFILE_KEY])),
    producer: 'payout-profiles',
    types: PayoutProfileEventTypes,
  },
  [Topics.validationRequests]: {
    topic: Topics.validationRequests,
    description: 'Profile revisions the payments back office must validate.',
    key: 'partnerId',
    producer: 'payout-profiles',
    types: { ProfileValidationRequested },
  },
  [Topics.validationResults]: {
    topic: Topics.validationResults,
    description: 'Validation decisions from the payments back office.',
    key: 'partnerId',
    producer: 'external: payments back office',
    types: { ProfileValidationCompleted },
  },
  [Topics.notifications]: {
    topic: Topics.notifications,
    description: 'What became of each message, per recipient and channel: sent, finally failed, or cancelled (withdrawn before it was sent).',
    key: 'partnerId',
    producer: 'notification',
    types: NotificationEventTypes,
  },
  [Topics.deliveryDeadLetters]: {
    topic: Topics.deliveryDeadLetters,
    description:
      'Emails that finally failed, as envelopes holding the rendered email and its recipient, for operators to inspect or ' +
      'resend. Not notifications.events.v1.dlq, which holds the events a consumer could not process.',
    key: 'partnerId',
    producer: 'notification',
    types: DeliveryDeadLetterTypes,
    deadLetters: false,
  },
};

/**
 * The topics a platform service writes (`producer`), which it creates at start when missing: a topic nobody in the
 * platform consumes (validation requests) would otherwise exist only if the broker creates topics on first use.
 */
export function topicsProducedBy(service: string): Topic[] {
  return Object.values(CATALOG)
    .filter((contract) => contract.producer === service)
    .map((contract) => contract.topic);
}

export function payloadClass(topic: string, type: string): PayloadClass | undefined {
  const types = (CATALOG as Record<string, TopicContract | undefined>)[topic]?.types;
  // Own names only: `constructor` or `toString` is an unknown type (skipped), not Object.prototype's.
  return types && Object.hasOwn(types, type) ? types[type] : undefined;
}
