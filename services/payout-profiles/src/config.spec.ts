import { baseConfigSpec, loadConfig } from '@lib/platform';
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
  });
});
