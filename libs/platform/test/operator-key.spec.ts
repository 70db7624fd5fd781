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
    expect(hasOperatorKey(request(token), token)).toBe(true);
    expect(hasOperatorKey(request(`${token}x`), token)).toBe(false);
    expect(hasOperatorKey(request('the-operator-key-0002'), token)).toBe(false);
    expect(hasOperatorKey(request(''), token)).toBe(false);
    expect(hasOperatorKey(request(), token)).toBe(false);
  });

  it('never matches an empty configured key, whatever is sent', () => {
    expect(hasOperatorKey(request(''), '')).toBe(false);
    expect(hasOperatorKey(request(), '')).toBe(false);
  });
});
