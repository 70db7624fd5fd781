import { nameKey } from './bank-profile.schema';

describe('nameKey', () => {
  it('compares names a partner cannot tell apart as the same', () => {
    expect(nameKey('EUR main')).toBe('eur main');
    expect(nameKey('  EUR   Main ')).toBe('eur main');
    expect(nameKey('EUR\u00a0main')).toBe('eur main');
    expect(nameKey('EUR\tmain')).toBe('eur main');
    // "Café" precomposed (U+00E9) and decomposed (e + U+0301).
    expect(nameKey('Caf\u00e9')).toBe(nameKey('Cafe\u0301'));
  });

  it('keeps names that differ apart', () => {
    expect(nameKey('EUR main')).not.toBe(nameKey('EUR mains'));
    expect(nameKey('EUR main')).not.toBe(nameKey('EURmain'));
  });
});
