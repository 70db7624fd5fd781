import { isDeliverableEmail } from '../src/http/email';

describe('isDeliverableEmail', () => {
  it.each([
    ['grace@contoso.example'],
    ['"j doe"@contoso.example'],
    ['josé@contoso.example'],
    ['jose\u0301@contoso.example'], // decomposed: the same address once composed (identity's emailKey)
    ['\u0645\u06CC\u200C\u0631\u0648@contoso.example'], // Persian: a non-joiner after an Arabic-script letter
    ['\u0915\u094D\u200D\u0937@contoso.example'], // Devanagari: a joiner after a virama
  ])('takes %j', (email) => {
    expect(isDeliverableEmail(email)).toBe(true);
  });

  it.each([
    ['a zero-width space', 'gr\u200Bace@contoso.example'],
    ['a joiner between Latin letters', 'gra\u200Dce@contoso.example'],
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
