import { Topics } from '@lib/contracts';

/**
 * Topics the notification service reads with a consumer of their own (MessagingOptions.ownConsumers): identity events,
 * in group `<KAFKA_GROUP_ID>-identity`, so that an event waiting for the roles of its recipients (IdentityCatchUp) does
 * not hold them up.
 */
export const NOTIFICATION_OWN_CONSUMERS = { identity: [Topics.identity] };
