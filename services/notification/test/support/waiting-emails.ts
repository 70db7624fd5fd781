import { eventually, RunningService, SmtpTestServer } from '@lib/testing';
import type { MongoClient } from 'mongodb';
import type { TestUser } from './world';

/** Settings under which an email the SMTP server refuses (4xx) keeps being retried, quickly, for as long as a test needs. */
export const RETRIED_QUICKLY = {
  NOTIFY_MAX_ATTEMPTS: '200',
  NOTIFY_BACKOFF_MS: '100',
  NOTIFY_BACKOFF_MAX_MS: '400',
  NOTIFY_POLL_INTERVAL_MS: '250',
  NOTIFY_SMTP_TIMEOUT_MS: '5000',
};

/**
 * Emails kept waiting by an SMTP server that refuses them (`smtp.refuse`), for specs of what a waiting email becomes
 * (withdrawn, or sent once the server takes it): the service's messages, and waits on them.
 */
export function waitingEmails(mongo: MongoClient, smtp: SmtpTestServer, service: () => RunningService) {
  const messages = () => mongo.db(service().env.MONGO_DB).collection<Record<string, unknown> & { _id: string }>('messages');
  return {
    messages,
    /** The email exists and the server refused it at least once: it waits for its next attempt. */
    async waitingAfterRefusal(id: string, user: TestUser): Promise<void> {
      await eventually(async () => {
        expect((await messages().findOne({ _id: id }))?.attempts).toBeGreaterThanOrEqual(1);
        expect(smtp.attempts.get(user.email)).toBeGreaterThanOrEqual(1);
      }, 60_000);
    },
    /**
     * An attempt of the email begun after this call has run (the server still refusing it), or it has its final status:
     * every check made before sending (what the email tells, still true?) has read what the service had consumed by
     * the call. An attempt already under way then may have checked before, and reach the server after it takes emails.
     */
    async checkedAgain(id: string): Promise<void> {
      const attempts = Number((await messages().findOne({ _id: id }))?.attempts ?? 0);
      await eventually(async () => {
        const stored = await messages().findOne({ _id: id });
        expect(['SENT', 'FAILED', 'CANCELLED'].includes(stored?.status as string) || Number(stored?.attempts) >= attempts + 2).toBe(true);
      }, 60_000);
    },
    /** The email's final status, once it has one. */
    settled(id: string): Promise<Record<string, unknown>> {
      return eventually(async () => {
        const stored = await messages().findOne({ _id: id });
        expect(['SENT', 'FAILED', 'CANCELLED']).toContain(stored?.status);
        return stored!;
      }, 60_000);
    },
  };
}
