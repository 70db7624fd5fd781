import { nameKey } from './bank-profile.schema';

describe('nameKey', () => {
  it('compares names a partner cannot tell apart as the same', () => {
    expect(nameKey('EUR main')).toBe('eur main');
    expect(nameKey('  EUR   Main ')).toBe('eur main');
    expect(nameKey('EUR\u00a0main')).toBe('eur main');
    expect(nameKey('EUR\tmain')).toBe('eur main');
    // "Café" precomposed (U+00E9) and decomposed (e + U+0301).
    expect(nameKey('Caf\u00e9')).toBe(nameKey('Cafe\u0301'));
    // Characters nobody sees: a zero-width space, a soft hyphen, a zero-width joiner.
    expect(nameKey('EUR main\u200b')).toBe('eur main');
    expect(nameKey('EUR ma\u00adin')).toBe('eur main');
    expect(nameKey('EUR\u200d main')).toBe('eur main');
    // Other characters nobody sees: a combining grapheme joiner, a variation selector, a Mongolian one, a Hangul filler
    // (between words, it is a space nobody sees), the blank braille pattern.
    for (const unseen of ['\u034f', '\ufe0f', '\u180b', '\u2800']) expect(nameKey(`EUR main${unseen}`)).toBe('eur main');
    expect(nameKey('EUR\u3164 main')).toBe('eur main');
  });

  it('folds case the Unicode way, beyond lower case', () => {
    expect(nameKey('Straße')).toBe('strasse');
    expect(nameKey('STRASSE')).toBe(nameKey('Straße'));
    expect(nameKey('STRA\u1e9eE')).toBe(nameKey('Straße')); // capital sharp s
    expect(nameKey('ΟΔΟΣ')).toBe(nameKey('οδοσ'));
    expect(nameKey('οδος')).toBe(nameKey('οδοσ'));
    expect(nameKey('Ca\u017fe')).toBe(nameKey('Case')); // long s
    expect(nameKey('CAFÉ')).toBe(nameKey('café'));
  });

  it('keeps names that differ apart', () => {
    expect(nameKey('EUR main')).not.toBe(nameKey('EUR mains'));
    expect(nameKey('EUR main')).not.toBe(nameKey('EURmain'));
    // Dotless and dotted i are two letters in Turkish.
    expect(nameKey('I\u015f\u0131k')).not.toBe(nameKey('I\u015fik'));
    expect(nameKey('Caf\u00e9')).not.toBe(nameKey('Cafe'));
  });
});
