import { isDeepStrictEqual } from 'node:util';
import { comparable } from './comparable';

describe('comparable', () => {
  it('reads a field stored as null as left out, and text stored decomposed as the same text composed', () => {
    expect(isDeepStrictEqual(comparable({ name: 'Cafe\u0301', beneficiary: { phone: null, city: 'Mu\u0308nchen' } }), comparable({ name: 'Caf\u00e9', beneficiary: { city: 'M\u00fcnchen' } }))).toBe(true);
    expect(isDeepStrictEqual(comparable({ name: 'Cafe' }), comparable({ name: 'Caf\u00e9' }))).toBe(false);
  });
});
