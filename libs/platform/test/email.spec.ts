import { isDeliverableEmail } from '../src/http/email';

describe('isDeliverableEmail', () => {
  it.each([
    ['grace@contoso.example'],
    ['"j doe"@contoso.example'],
    ['josé@contoso.example'],
    ['jose\u0301@contoso.example'], // decomposed: the same address once composed (identity's emailKey)
    ['\u0645\u06CC\u200C\u0631\u0648@contoso.example'], // Persian: a non-joiner after an Arabic-script letter
    ['\u0915\u094D\u200D\u0937@contoso.example'], // Devanagari: a joiner after a virama
    ['\u0915\u094D\u200C\u0937@contoso.example'], // Devanagari: a non-joiner after a virama
    ['\u0E04\u0E33@example.co.th'], // Thai: an ordinary vowel with a compatibility decomposition
    ['\u0E99\u0EB3@example.la'], // Lao: the same
    ['grace@b\u00FCcher.example'], // an internationalized domain
    ['\u7528\u6237@\u4F8B\u5B50.\u516C\u53F8'], // Chinese
  ])('takes %j', (email) => {
    expect(isDeliverableEmail(email)).toBe(true);
  });

  it.each([
    ['a zero-width space', 'gr\u200Bace@contoso.example'],
    ['a joiner between Latin letters', 'gra\u200Dce@contoso.example'],
    ['a joiner after a combining accent', 'jose\u0301\u200D@contoso.example'],
    ['a non-joiner after an Arabic letter, before the @', '\u0639\u0644\u06CC\u200C@contoso.example'],
    ['a superscript digit', 'grace\u00B2@contoso.example'],
    ['mathematical bold letters', '\u{1D420}\u{1D42B}\u{1D41A}\u{1D41C}\u{1D41E}@contoso.example'],
    ['Arabic presentation forms', '\uFECB\uFEE0\uFEF2@contoso.example'],
    ['a Roman numeral', '\u2170an@contoso.example'],
    ['a long s', 'jo\u017Fe@contoso.example'],
    ['a one dot leader in the domain', 'grace@contoso\u2024example.com'],
    ['a non-joiner in the domain between Latin letters', 'grace@con\u200Ctoso.example'],
    ['a Hangul filler', 'grace\u3164@contoso.example'],
    ['a blank braille pattern', 'grace\u2800@contoso.example'],
    ['a variation selector', 'grace\uFE0F@contoso.example'],
    ['a combining grapheme joiner', 'gra\u034Fce@contoso.example'],
    ['an em space', 'grace\u2003@contoso.example'],
    ['an ideographic space', 'grace\u3000@contoso.example'],
    ['full-width letters', '\uFF47\uFF52\uFF41\uFF43\uFF45@contoso.example'],
    ['a ligature', '\uFB01nance@contoso.example'],
    ['a line break in a quoted local part', '"a\r\nb"@contoso.example'],
  ])('refuses an address with %s', (_, email) => {
    expect(isDeliverableEmail(email)).toBe(false);
  });
});
