import { baseConfigSpec, loadConfig, MAX_TIMER_MS } from '@lib/platform';
import { configRefusal, PLATFORM_REQUIRED_ENV } from '@lib/testing';
import { enrollmentConfigSpec } from './config';

const load = (env: Record<string, string>) => loadConfig({ ...baseConfigSpec('enrollment'), ...enrollmentConfigSpec }, { ...PLATFORM_REQUIRED_ENV, ...env });
const refusal = (env: Record<string, string>) => configRefusal(load, env);

describe('enrollment settings', () => {
  it('sends renewal reminders in the last 30 days and retries a failed rollover after 5 minutes by default', () => {
    expect(load({})).toMatchObject({ RENEWAL_REMINDER_DAYS: 30, ROLLOVER_RETRY_MS: 300_000, ROLLOVER_LEASE_MS: 15_000, ROLLOVER_BATCH_PAUSE_MS: 0 });
  });

  // 0 or a negative count would send no reminder at all, silently; a fraction is no count of days.
  it.each(['-1', '0', '7.5'])('refuses RENEWAL_REMINDER_DAYS=%s', (value) => {
    expect(refusal({ RENEWAL_REMINDER_DAYS: value })).toContain('RENEWAL_REMINDER_DAYS (must be a whole number >= 1)');
  });

  // Above 2^31-1 ms a Node timer fires after 1 ms: a failed rollover would be rerun at once, again and again.
  it.each(['ROLLOVER_RETRY_MS', 'ROLLOVER_LEASE_MS', 'ROLLOVER_BATCH_PAUSE_MS'])('refuses %s of 30 days, more than a Node timer holds', (name) => {
    expect(refusal({ [name]: String(30 * 86_400_000) })).toContain(`${name} (must be a whole number of milliseconds from`);
    expect(load({ [name]: String(MAX_TIMER_MS) })[name as 'ROLLOVER_RETRY_MS']).toBe(MAX_TIMER_MS);
  });

  // Waited with a timer a second longer: above 2^31-1 ms in all it fires after 1 ms, every rollover "not caught up".
  it('refuses a ROLLOVER_CATCH_UP_TIMEOUT_MS its timer cannot hold', () => {
    expect(refusal({ ROLLOVER_CATCH_UP_TIMEOUT_MS: String(MAX_TIMER_MS) })).toContain('ROLLOVER_CATCH_UP_TIMEOUT_MS (must be a whole number');
    expect(load({ ROLLOVER_CATCH_UP_TIMEOUT_MS: String(MAX_TIMER_MS - 1_000) }).ROLLOVER_CATCH_UP_TIMEOUT_MS).toBe(MAX_TIMER_MS - 1_000);
  });

  it('refuses a PAYOUT_PROFILES_API_URL that is not a URL without repeating it', () => {
    const message = refusal({ PAYOUT_PROFILES_API_URL: 'http://svc:t0ken#x@payout' });
    expect(message).toContain('PAYOUT_PROFILES_API_URL (must be an http(s) URL');
    expect(message).not.toContain('t0ken');
  });

  it('refuses a PAYOUT_PROFILES_API_URL without its scheme (its completeAt links would be dead)', () => {
    expect(refusal({ PAYOUT_PROFILES_API_URL: 'payout-profiles:3004' })).toContain('PAYOUT_PROFILES_API_URL (must be an http(s) URL');
  });
});
