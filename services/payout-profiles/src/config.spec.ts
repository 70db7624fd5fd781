import { baseConfigSpec, loadConfig, MAX_TIMER_MS } from '@lib/platform';
import { configRefusal, PLATFORM_REQUIRED_ENV } from '@lib/testing';
import { payoutConfigSpec } from './config';

const required = {
  ...PLATFORM_REQUIRED_ENV,
  PAYOUT_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
  PAYOUT_ENCRYPTION_ACTIVE_KEY_ID: 'k1',
};
const load = (env: Record<string, string>) => loadConfig({ ...baseConfigSpec('payout-profiles'), ...payoutConfigSpec }, { ...required, ...env });

describe('payout-profiles settings: the back office credential', () => {
  it('is off unless set (only the operator credential is accepted then)', () => {
    expect(load({}).VALIDATOR_TOKEN).toBe('');
  });

  it('takes a secret of at least 16 characters, and refuses a shorter one', () => {
    expect(load({ VALIDATOR_TOKEN: 'back-office-validator' }).VALIDATOR_TOKEN).toBe('back-office-validator');
    expect(configRefusal(load, { VALIDATOR_TOKEN: 'short-key' })).toMatch(/VALIDATOR_TOKEN.*must be empty or at least 16 characters/);
    expect(configRefusal(load, { VALIDATOR_TOKEN: 'back-office-validator\n' })).toContain('VALIDATOR_TOKEN (must not begin or end with spaces or a line break');
    // The operator's own: the back office would hold the platform-wide credential.
    expect(configRefusal(load, { VALIDATOR_TOKEN: PLATFORM_REQUIRED_ENV.OPERATOR_TOKEN })).toContain('VALIDATOR_TOKEN (must differ from OPERATOR_TOKEN');
    // The scraper's: it would read decrypted details with it.
    expect(configRefusal(load, { VALIDATOR_TOKEN: 'back-office-validator', METRICS_TOKEN: 'back-office-validator' })).toMatch(/(VALIDATOR|METRICS)_TOKEN \(must differ from (METRICS|VALIDATOR)_TOKEN/);
  });
});

describe('payout-profiles settings: the tax expiry scan', () => {
  const refusal = (env: Record<string, string>) => configRefusal(load, env);

  it('reports profiles expiring within 30 days, scanned every hour, by default; 0 turns the scan off', () => {
    expect(load({})).toMatchObject({ TAX_EXPIRY_WINDOW_DAYS: 30, TAX_EXPIRY_SCAN_INTERVAL_MS: 3_600_000 });
    expect(load({ TAX_EXPIRY_SCAN_INTERVAL_MS: '0' }).TAX_EXPIRY_SCAN_INTERVAL_MS).toBe(0);
  });

  it.each(['-5', '0', '1.5'])('refuses TAX_EXPIRY_WINDOW_DAYS=%s', (value) => {
    expect(refusal({ TAX_EXPIRY_WINDOW_DAYS: value })).toContain('TAX_EXPIRY_WINDOW_DAYS (must be a whole number >= 1)');
  });

  // Above 2^31-1 ms setInterval fires every 1 ms: the scan would run back to back against the database.
  it.each([String(30 * 86_400_000), '-1', '0.5'])('refuses TAX_EXPIRY_SCAN_INTERVAL_MS=%s', (value) => {
    expect(refusal({ TAX_EXPIRY_SCAN_INTERVAL_MS: value })).toContain(`TAX_EXPIRY_SCAN_INTERVAL_MS (must be a whole number of milliseconds from 0 to ${MAX_TIMER_MS})`);
  });
});
