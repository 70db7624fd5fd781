import { baseConfigSpec, ConfigError, loadConfig } from '@lib/platform';
import { configRefusal, PLATFORM_REQUIRED_ENV } from '@lib/testing';
import { notificationConfigSpec } from './config';
import { retryDelay } from './delivery/backoff';

const load = (env: Record<string, string>) => loadConfig({ ...baseConfigSpec('notification'), ...notificationConfigSpec }, { ...PLATFORM_REQUIRED_ENV, ...env });
const refusal = (env: Record<string, string>) => configRefusal(load, env);
/** The longest delay a Node timer keeps: above it, setTimeout and setInterval fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

describe('notification settings', () => {
  it('defaults to the Partner Center sender, and retries an email for about an hour before it is FAILED', () => {
    const config = load({});
    expect(config).toMatchObject({
      MAIL_FROM_NAME: 'Partner Center',
      MAIL_FROM_ADDRESS: 'no-reply@partnercenter.local',
      SMTP_URL: 'smtp://127.0.0.1:1025',
      NOTIFY_MAX_ATTEMPTS: 20,
      NOTIFY_BACKOFF_MS: 1_000,
      NOTIFY_BACKOFF_MAX_MS: 300_000,
    });
    // The delays between the attempts: an SMTP outage (or a rotated password) shorter than this loses no email.
    const retriedForMs = Array.from({ length: config.NOTIFY_MAX_ATTEMPTS - 1 }, (_, i) => retryDelay(i + 1, config.NOTIFY_BACKOFF_MS, config.NOTIFY_BACKOFF_MAX_MS, () => 0.5)).reduce((a, b) => a + b, 0);
    expect(retriedForMs / 60_000).toBeGreaterThan(55);
    expect(retriedForMs / 60_000).toBeLessThan(65);
  });

  it('takes 0 as no age limit for events, and refuses a limit shorter than an hour (days or seconds meant)', () => {
    expect(load({ NOTIFY_MAX_EVENT_AGE_MS: '0' }).NOTIFY_MAX_EVENT_AGE_MS).toBe(0);
    expect(load({ NOTIFY_MAX_EVENT_AGE_MS: '3600000' }).NOTIFY_MAX_EVENT_AGE_MS).toBe(3_600_000);
    for (const meant of ['7', '3600', '3599999', '-0', '1e7', '0x36EE80']) expect(refusal({ NOTIFY_MAX_EVENT_AGE_MS: meant })).toContain('NOTIFY_MAX_EVENT_AGE_MS (must be 0 (no limit) or a whole number of milliseconds of at least 3600000');
  });

  it('stops with one line naming every bad setting', () => {
    let error: unknown;
    try {
      load({ NOTIFY_MAX_ATTEMPTS: '0', MAIL_FROM_ADDRESS: 'nobody', NOTIFY_CONCURRENCY: '2.5', NOTIFY_MAX_EVENT_AGE_MS: '-1' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    for (const name of ['NOTIFY_MAX_ATTEMPTS', 'MAIL_FROM_ADDRESS', 'NOTIFY_CONCURRENCY', 'NOTIFY_MAX_EVENT_AGE_MS']) expect(message).toContain(name);
  });

  // The refusal goes to stderr and the logs: it names the setting and what is wrong, never the password in it.
  it('refuses an SMTP_URL with an unencoded reserved character in its password, without repeating it', () => {
    const message = refusal({ SMTP_URL: 'smtps://mailer:S3cr#t/pw@smtp.example.com:465' });
    expect(message).toContain('SMTP_URL (must be an smtp:// or smtps:// URL (percent-encode reserved characters in the user or password))');
    expect(message).not.toContain('S3cr');
    expect(load({ SMTP_URL: 'smtps://mailer:S3cr%23t%2Fpw@smtp.example.com:465' }).SMTP_URL).toBe('smtps://mailer:S3cr%23t%2Fpw@smtp.example.com:465');
  });

  it('refuses an SMTP_URL without its scheme (nodemailer would send to localhost), or of another scheme', () => {
    expect(refusal({ SMTP_URL: 'mail.internal:587' })).toContain('SMTP_URL (must be an smtp:// or smtps:// URL)');
    expect(refusal({ SMTP_URL: 'https://mail.internal' })).toContain('SMTP_URL (must be an smtp:// or smtps:// URL)');
  });

  it('refuses a retry delay bound below the first delay (every attempt would come at once)', () => {
    expect(refusal({ NOTIFY_BACKOFF_MS: '1000', NOTIFY_BACKOFF_MAX_MS: '1' })).toContain('NOTIFY_BACKOFF_MAX_MS (must be at least NOTIFY_BACKOFF_MS, 1000)');
    expect(load({ NOTIFY_BACKOFF_MS: '1000', NOTIFY_BACKOFF_MAX_MS: '1000' }).NOTIFY_BACKOFF_MAX_MS).toBe(1_000);
  });

  it('refuses a PORTAL_BASE_URL without its scheme (every link in the emails would be dead)', () => {
    expect(refusal({ PORTAL_BASE_URL: 'localhost:8080' })).toContain('PORTAL_BASE_URL (must be an http(s) URL');
    expect(load({ PORTAL_BASE_URL: 'https://partner.example.com/portal' }).PORTAL_BASE_URL).toBe('https://partner.example.com/portal');
  });

  it('never repeats a refused value, whatever the setting', () => {
    const env = Object.fromEntries(Object.keys(notificationConfigSpec).map((name) => [name, 'S3cr#t/pw']));
    const message = refusal(env);
    for (const name of ['SMTP_URL', 'MAIL_FROM_ADDRESS', 'PORTAL_BASE_URL', 'NOTIFY_MAX_ATTEMPTS', 'NOTIFY_LEASE_MS']) expect(message).toContain(`${name} (`);
    expect(message).not.toContain('S3cr');
  });

  it('refuses a lease shorter than 15 s: it is renewed every third of it, and must not lapse during a send', () => {
    expect(refusal({ NOTIFY_LEASE_MS: '1' })).toMatch(/NOTIFY_LEASE_MS \(must be a whole number of milliseconds from 15000 to 2147483647\)/);
    expect(refusal({ NOTIFY_LEASE_MS: '4999' })).toContain('NOTIFY_LEASE_MS');
    expect(load({ NOTIFY_LEASE_MS: '15000' }).NOTIFY_LEASE_MS).toBe(15_000);
    expect(refusal({ NOTIFY_LEASE_MS: '14999' })).toMatch(/NOTIFY_LEASE_MS/);
    expect(load({}).NOTIFY_LEASE_MS).toBe(60_000);
  });

  it('refuses a delay a Node timer cannot hold (above 2^31-1 ms it would fire at once), and takes the largest one', () => {
    const timed = ['NOTIFY_BACKOFF_MS', 'NOTIFY_BACKOFF_MAX_MS', 'NOTIFY_POLL_INTERVAL_MS', 'NOTIFY_LEASE_MS', 'NOTIFY_SMTP_TIMEOUT_MS'];
    const message = refusal(Object.fromEntries(timed.map((name) => [name, String(MAX_TIMER_MS + 1)])));
    for (const name of timed) expect(message).toContain(`${name} (must be a whole number of milliseconds`);
    const largest = load(Object.fromEntries(timed.map((name) => [name, String(MAX_TIMER_MS)])));
    for (const name of timed) expect(largest[name as keyof typeof largest]).toBe(MAX_TIMER_MS);
  });
});
