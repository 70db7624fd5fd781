import type { Request } from 'express';
import { baseConfigSpec, ConfigError, hasOperatorKey, loadConfig } from '../src';

const required = {
  MONGO_URL: 'mongodb://127.0.0.1:27017/',
  KAFKA_BROKERS: '127.0.0.1:9092',
  JWT_ISSUER: 'https://issuer.test',
  JWKS_URL: 'https://issuer.test/jwks',
};
const load = (OPERATOR_TOKEN: string) => loadConfig(baseConfigSpec('svc'), { ...required, OPERATOR_TOKEN });
const request = (key?: string) => ({ headers: key === undefined ? {} : { 'x-operator-key': key } }) as unknown as Request;

describe('the operator credential', () => {
  it.each([[''], ['   '], ['short-key']])('a service does not start with OPERATOR_TOKEN %j', (token) => {
    expect(() => load(token)).toThrow(ConfigError);
    expect(() => load(token)).toThrow(/OPERATOR_TOKEN \(must be at least 16 characters/);
  });

  it('starts with a 16-character one', () => {
    expect(load('0123456789abcdef').OPERATOR_TOKEN).toBe('0123456789abcdef');
  });

  it('matches only the exact key', () => {
    const token = 'the-operator-key-0001';
    const config = { OPERATOR_TOKEN: token, OPERATOR_PREVIOUS_TOKEN: '' };
    expect(hasOperatorKey(request(token), config)).toBe(true);
    expect(hasOperatorKey(request(`${token}x`), config)).toBe(false);
    expect(hasOperatorKey(request('the-operator-key-0002'), config)).toBe(false);
    expect(hasOperatorKey(request(''), config)).toBe(false);
    expect(hasOperatorKey(request(), config)).toBe(false);
  });

  it('never matches an empty configured key, whatever is sent', () => {
    const config = { OPERATOR_TOKEN: '', OPERATOR_PREVIOUS_TOKEN: '' };
    expect(hasOperatorKey(request(''), config)).toBe(false);
    expect(hasOperatorKey(request(), config)).toBe(false);
  });

  // A rotation without downtime: replicas restarted with the new key accept the old one too, as the others still do.
  it('accepts the key being replaced while OPERATOR_PREVIOUS_TOKEN names it, and only then', () => {
    const config = load('the-new-operator-key-02');
    expect(config.OPERATOR_PREVIOUS_TOKEN).toBe('');
    expect(hasOperatorKey(request('the-old-operator-key-01'), config)).toBe(false);
    const rotating = loadConfig(baseConfigSpec('svc'), { ...required, OPERATOR_TOKEN: 'the-new-operator-key-02', OPERATOR_PREVIOUS_TOKEN: 'the-old-operator-key-01' });
    expect(hasOperatorKey(request('the-old-operator-key-01'), rotating)).toBe(true);
    expect(hasOperatorKey(request('the-new-operator-key-02'), rotating)).toBe(true);
    expect(hasOperatorKey(request('another-operator-key-03'), rotating)).toBe(false);
  });

  it('refuses a previous key that is too short, or the same as the current one', () => {
    const rotate = (previous: string) => () => loadConfig(baseConfigSpec('svc'), { ...required, OPERATOR_TOKEN: 'the-new-operator-key-02', OPERATOR_PREVIOUS_TOKEN: previous });
    expect(rotate('short')).toThrow(/OPERATOR_PREVIOUS_TOKEN \(must be empty or at least 16 characters/);
    expect(rotate('the-new-operator-key-02')).toThrow(/OPERATOR_PREVIOUS_TOKEN \(must differ from OPERATOR_TOKEN/);
  });
});
