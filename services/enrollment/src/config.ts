import { delayMs, httpUrl, MAX_TIMER_MS, PlatformConfig, wholeNumber } from '@lib/platform';
import { makeValidator } from 'envalid';
import { CronTime } from 'cron';

/** A six-field cron expression (seconds first, UTC), or `off`. */
const cronOrOff = makeValidator<string>((value) => {
  const trimmed = value.trim();
  if (trimmed === 'off') return trimmed;
  try {
    new CronTime(trimmed, 'UTC');
  } catch (error) {
    throw new Error(`must be a cron expression (with seconds) or "off": ${(error as Error).message}`);
  }
  return trimmed;
});

/** Settings of the enrollment service, validated at start with the platform's own. */
export const enrollmentConfigSpec = {
  ROLLOVER_CRON: cronOrOff({
    default: '0 30 0 * * *',
    desc: 'When the daily rollover job runs (UTC, with seconds): it continues the enrollments of the fiscal year that ended and sends the renewal reminders of the last days of the current one; "off" disables it',
  }),
  ROLLOVER_BATCH_SIZE: wholeNumber(1)({ default: 1000, desc: 'Enrollments read and written per rollover batch' }),
  BULK_WRITE_CHUNK: wholeNumber(1)({
    default: 500,
    desc: 'Updates per bulkWrite command in batch work (rollover, reminders, discontinuation); FerretDB 1.24 needs fewer than 100',
  }),
  ROLLOVER_WRITES_IN_FLIGHT: wholeNumber(1)({
    default: 3,
    desc: 'Rollover batches written at the same time (the next ones are read and decided meanwhile)',
  }),
  ROLLOVER_BATCH_PAUSE_MS: delayMs(0)({ default: 0, desc: 'Pause between rollover batches (throttling)' }),
  ROLLOVER_RETRY_MS: delayMs(1_000)({
    default: 300_000,
    desc: 'After a scheduled rollover that failed, stopped before the end or found another instance running it: when to run it again',
  }),
  ROLLOVER_LEASE_MS: delayMs(1_000)({
    default: 15_000,
    desc: 'How long the lease on a running rollover lasts without renewal (renewed every quarter of it): a run killed with its lease holds a rerun off this long',
  }),
  // Waited with a timer a second longer (consumer-catch-up): a Node timer holds at most MAX_TIMER_MS.
  ROLLOVER_CATCH_UP_TIMEOUT_MS: wholeNumber(0, MAX_TIMER_MS - 1_000)({
    default: 15_000,
    desc: 'How long a rollover waits for this service to consume the events already published on the topics it reads (0: do not wait)',
  }),
  FOLLOW_UP_INTERVAL_MS: delayMs(0)({
    default: 3_600_000,
    desc: 'How often the follow-up runs (also once at start): VALIDATING enrollments follow their profiles once more (a Submit that died before its follow-up), and the enrollments of tax profiles that expired since follow them; 0 turns it off',
  }),
  RENEWAL_REMINDER_DAYS: wholeNumber(1)({ default: 30, desc: 'Days before fiscal-year end when renewal reminders are sent' }),
  // An http(s) URL: `payout-profiles:3004` (no scheme) parses as a URL, and every completeAt link would be dead.
  PAYOUT_PROFILES_API_URL: httpUrl({
    default: 'http://localhost:3004',
    desc: 'Base URL of the payout-profiles API, where an answer points to complete missing payout items',
  }),
};

export type EnrollmentConfig = PlatformConfig & {
  ROLLOVER_CRON: string;
  ROLLOVER_BATCH_SIZE: number;
  ROLLOVER_WRITES_IN_FLIGHT: number;
  ROLLOVER_BATCH_PAUSE_MS: number;
  ROLLOVER_LEASE_MS: number;
  ROLLOVER_RETRY_MS: number;
  BULK_WRITE_CHUNK: number;
  ROLLOVER_CATCH_UP_TIMEOUT_MS: number;
  FOLLOW_UP_INTERVAL_MS: number;
  RENEWAL_REMINDER_DAYS: number;
  PAYOUT_PROFILES_API_URL: string;
};
