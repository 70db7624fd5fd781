/**
 * The topic catalog. Versioned names: a breaking change is a new topic (`.v2`), never an edit.
 * `key` says what the message key is, so that events of one location (or partner) stay in order.
 */
export const Topics = {
  identity: 'identity.events.v1',
  eligibility: 'eligibility.decisions.v1',
  agreements: 'agreements.status.v1',
  programs: 'programs.events.v1',
  enrollments: 'enrollments.events.v1',
  invitations: 'invitations.events.v1',
  payoutProfiles: 'payout-profiles.events.v1',
  validationRequests: 'payout-profiles.validation-requests.v1',
  validationResults: 'payout-profiles.validation-results.v1',
  notifications: 'notifications.events.v1',
  /** Emails that finally failed, for operators to inspect or resend (not a consumer's dead letters: no `.dlq` of its own). */
  deliveryDeadLetters: 'notification.deliveries.dlq',
} as const;

export type Topic = (typeof Topics)[keyof typeof Topics];

export const ALL_TOPICS: Topic[] = Object.values(Topics);

/** Topics written by systems outside the platform: public, versioned contracts. */
export const EXTERNAL_TOPICS: Topic[] = [Topics.eligibility, Topics.agreements, Topics.validationResults];

/**
 * Topics whose whole history builds another service's views (roles, locations, programs, enrollment statuses,
 * invitations, profile statuses, eligibility, agreements, validation results): a service deployed anew, or whose
 * database is restored, reads them from their start (an enrollment completed a year ago still holds back the location's
 * next invitation; a profile approved then is still what its enrollment stands on). A service that creates one keeps
 * it forever (`retention.ms=-1`); so too the validation requests (KEPT_TOPICS); every other topic it creates (outcomes
 * of emails, dead letters) gets the broker's default retention.
 */
export const HISTORY_TOPICS: Topic[] = [Topics.identity, Topics.programs, Topics.enrollments, Topics.invitations, Topics.payoutProfiles, ...EXTERNAL_TOPICS];

/**
 * Topics kept forever: the history topics, and the validation requests. A revision's request is published once, and
 * nothing asks again while it waits: deleted by retention before the back office read it (an outage of a week, a new
 * consumer group), the profile would stay pending, and its enrollments VALIDATING, for good.
 */
export const KEPT_TOPICS: Topic[] = [...HISTORY_TOPICS, Topics.validationRequests];

/**
 * The topic settings a service creates `topic` with (beside its partitions). An outside system's topic stamps each
 * record with the broker's clock (`LogAppendTime`): its events are judged against when they were written (an event
 * dated an hour or more ahead of that is dead-lettered, parseEvent), and a producer's own clock, set a year ahead, would
 * otherwise vouch for its own dates.
 */
export function topicConfig(topic: string): Record<string, string> {
  return {
    ...(KEPT_TOPICS.includes(topic as Topic) && { 'retention.ms': '-1' }),
    ...(EXTERNAL_TOPICS.includes(topic as Topic) && { 'message.timestamp.type': 'LogAppendTime' }),
  };
}

export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/**
 * On a message an operator published again (`npm run dlq -- replay | republish`): where the original was read,
 * `<partition>:<offset>` of its topic. A consumer ordering facts of the same instant by where it read them
 * (laterDecision) places the copy there, not at its own later offset, which would make an older fact win a tie.
 */
export const REPLAY_OF_HEADER = 'x-replay-of';

/** Headers written on every dead-lettered message. */
export const DeadLetterHeaders = {
  error: 'x-dlq-error',
  originalTopic: 'x-dlq-original-topic',
  originalPartition: 'x-dlq-original-partition',
  originalOffset: 'x-dlq-original-offset',
  consumerGroup: 'x-dlq-consumer-group',
  attempts: 'x-dlq-attempts',
  failedAt: 'x-dlq-failed-at',
  /** Only on a dead letter sent without the original value (too large for the dead-letter topic): why. */
  valueDropped: 'x-dlq-value-dropped',
} as const;
