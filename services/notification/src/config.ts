import { baseConfigSpec, delayMs, emailAddress, httpUrl, loadConfig, wholeNumber } from '@lib/platform';
import { makeValidator, str } from 'envalid';

/**
 * The shortest NOTIFY_LEASE_MS. The lease of an email in an SMTP exchange is renewed every third of it, counted from
 * when the send starts, while the lease runs from the claim (a group claim and a recipient lookup come first). At
 * 15 s a renewal is due every 5 s: the first one has seconds of slack for a slow claim and a slow database answer,
 * and a failed renewal still leaves the next before the lease lapses (another worker would then take the email over
 * mid-send and send it again).
 */
export const MIN_LEASE_MS = 15_000;

/**
 * An smtp:// or smtps:// URL. `mail.internal:587`, the scheme left out, parses as a URL of scheme `mail.internal:`,
 * which nodemailer reads as no host at all: it would send to localhost, every email failing for an hour, the service
 * ready. The refusal does not repeat the value (it may carry a password).
 */
const smtpUrl = makeValidator<string>((value) => {
  let scheme: string;
  try {
    scheme = new URL(value).protocol;
  } catch {
    throw new Error('must be an smtp:// or smtps:// URL (percent-encode reserved characters in the user or password)');
  }
  if (scheme !== 'smtp:' && scheme !== 'smtps:') throw new Error('must be an smtp:// or smtps:// URL');
  return value;
});

/** The shortest NOTIFY_MAX_EVENT_AGE_MS but 0: an hour. */
export const MIN_EVENT_AGE_MS = 3_600_000;

/**
 * 0 (no limit) or at least MIN_EVENT_AGE_MS: `7` or `3600` (meant as days or seconds) would make every event stale by
 * the time it is consumed, and notify nobody without a word.
 */
const eventAgeLimitMs = makeValidator<number>((value) => {
  const n = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || (n !== 0 && (n < MIN_EVENT_AGE_MS || n > Number.MAX_SAFE_INTEGER))) {
    throw new Error(`must be 0 (no limit) or a whole number of milliseconds of at least ${MIN_EVENT_AGE_MS} (an hour)`);
  }
  return n;
});

/** Settings of the notification service, validated with the common ones at start (see README). */
export const notificationConfigSpec = {
  SMTP_URL: smtpUrl({ default: 'smtp://127.0.0.1:1025', desc: 'SMTP server, e.g. smtp://user:pass@host:587 or smtps://host:465' }),
  MAIL_FROM_NAME: str({ default: 'Partner Center', desc: 'Display name of the sender' }),
  MAIL_FROM_ADDRESS: emailAddress({ default: 'no-reply@partnercenter.local', desc: 'Address of the sender' }),
  // An http(s) URL: `localhost:8080` (no scheme) parses as a URL of scheme `localhost:`, and every link would be dead.
  PORTAL_BASE_URL: httpUrl({ default: 'http://localhost:8080', desc: 'Partner Center web app, for links in emails and inbox entries' }),
  NOTIFY_MAX_ATTEMPTS: wholeNumber(1)({
    default: 20,
    desc: 'SMTP attempts per email before it is recorded as failed (20 with the default backoff: retried for about an hour)',
  }),
  NOTIFY_BACKOFF_MS: delayMs(1)({ default: 1_000, desc: 'Delay before the first retry; doubles on each attempt' }),
  NOTIFY_BACKOFF_MAX_MS: delayMs(1)({ default: 300_000, desc: 'Upper bound of the retry delay' }),
  NOTIFY_CONCURRENCY: wholeNumber(1)({ default: 16, desc: 'Emails sent at the same time by one instance (and pooled SMTP connections)' }),
  NOTIFY_POLL_INTERVAL_MS: delayMs(1)({
    default: 5_000,
    // The scan is for what no timer of this process knows: expired leases (NOTIFY_LEASE_MS) and other instances'
    // emails; it reads every message on servers that cannot index it. New emails and retries wake the worker.
    desc: 'How often the delivery worker scans for due emails nobody queued (inserts and retry timers wake it at once)',
  }),
  NOTIFY_LEASE_MS: delayMs(MIN_LEASE_MS)({
    default: 60_000,
    desc: 'How long a claimed email is reserved (renewed every third of it while it is sent); after a crash it is retried once this passes',
  }),
  NOTIFY_SMTP_TIMEOUT_MS: delayMs(1)({ default: 15_000, desc: 'Connection, greeting and socket timeout of one SMTP attempt' }),
  NOTIFY_MAX_EVENT_AGE_MS: eventAgeLimitMs({
    default: 7 * 24 * 3_600_000,
    desc: 'Events older than this notify nobody (a replay from the start must not mail everyone again); 0 = no limit',
  }),
  NOTIFY_IDENTITY_WAIT_MS: delayMs(0)({
    default: 5_000,
    desc: 'For an event that finds nobody to notify, its recipients by role, or named recipients the view does not know, knows deactivated or without the role: how long to wait for the identity events published before it (a role just granted) to be handled, then look again (0: no wait)',
  }),
  NOTIFY_DIGEST_AFTER: wholeNumber(0)({
    default: 3,
    desc: 'Invitation emails one recipient is sent one by one before further ones are gathered into one email listing them (a user given the Incentives admin role on every location of a large partner); 0: never gathered',
  }),
  NOTIFY_DIGEST_WINDOW_MS: delayMs(1_000)({
    default: 15 * 60_000,
    desc: 'How long invitations are gathered before their email is sent, and the quiet time after which a recipient is sent invitation emails one by one again',
  }),
  NOTIFY_INBOX_COUNT_LIMIT: wholeNumber(1)({
    default: 1_000,
    desc: 'How far the inbox counts its entries (GET /v1/inbox total, the unread count): past it, the count answers this number and says it is at least that, so that a large inbox costs every read no more than this many entries',
  }),
  NOTIFY_TEMPLATES_DIR: str({ default: '', desc: 'Folder of the *.hbs templates; found next to the code when empty' }),
};

const fullSpec = () => ({ ...baseConfigSpec('notification'), ...notificationConfigSpec });
export type NotificationConfig = ReturnType<typeof loadConfig<ReturnType<typeof fullSpec>>>;
