import { secretInTextProblems } from '../bank-profiles/bank-profile-rules';
import { secretsInTextProblems } from './secrets-in-text';

// Names are shown and sent in clear (events, emails): the secret is refused in them as people write it, not only whole.
describe('secrets in text shown in clear', () => {
  const named = (secret: string, text: string) => secretInTextProblems(secret, [['name', text]]).map((p) => p.field);

  it.each([
    ['a German IBAN whole, spaced', 'DE89370400440532013000', 'Konto DE89 3704 0044 0532 0130 00'],
    ["a German IBAN's BBAN", 'DE89370400440532013000', 'Konto 370400440532013000'],
    ["a German IBAN's national account number (its last ten digits)", 'DE89370400440532013000', 'Commerzbank Konto 0532013000'],
    ['that account number without its leading zero', 'DE89370400440532013000', 'Konto 532013000'],
    ["a British IBAN's account number (after the bank and sort code)", 'GB82WEST12345698765432', 'Barclays 98765432'],
    ['an account number without its leading zeros', '000123456789', 'Chase 123456789'],
  ])('refuses %s', (_, secret, text) => {
    expect(named(secret, text)).toEqual(['name']);
  });

  it.each([
    ['text holding none of it', 'DE89370400440532013000', 'Commerzbank EUR'],
    ['a piece of the account number shorter than a whole one', 'DE89370400440532013000', 'Store 2013'],
    ['an account number too short to be told from ordinary text', '12345', 'Store 12345'],
  ])('accepts %s', (_, secret, text) => {
    expect(named(secret, text)).toEqual([]);
  });

  it('refuses a VAT id without its country prefix, and a tax id with other separators', () => {
    const fields = (secret: string, texts: Array<[string, string]>) => secretsInTextProblems([secret], texts, 'must not contain the tax id').map((p) => p.field);
    expect(fields('DE123456789', [['legalName', 'Contoso GmbH USt-IdNr 123456789'], ['address', 'Hauptstrasse 12']])).toEqual(['legalName']);
    expect(fields('12-3456789', [['doingBusinessAs', 'Contoso (EIN 12 3456789)'], ['address', 'Hauptstrasse 12']])).toEqual(['doingBusinessAs']);
  });
});

// A stored secret the request does not send: its caller is shown it masked (`****6789`). Compared whole, a refusal
// would tell them whether the text held it (hundreds of candidates a request); so only what they are shown counts.
describe('a stored secret in text, which the request does not send', () => {
  const fields = (stored: string | undefined, texts: Array<[string, string]>) =>
    secretsInTextProblems([{ stored }], texts, 'must not contain the tax id').map((p) => `${p.field}: ${p.message}`);

  it('refuses a text holding it, as one holding any number that ends as it does: the answer tells nothing the mask does not', () => {
    const because = 'must not contain the tax id; a number ending in its last four is taken for it';
    for (const stored of ['12-3456789', '98-7656789']) {
      expect(fields(stored, [['legalName', 'Contoso (EIN 12 3456789)'], ['fileName', 'w9-55-5556789.pdf'], ['address', 'Hauptstrasse 6789']])).toEqual([
        `legalName: ${because}`,
        `fileName: ${because}`,
      ]);
    }
    // Bank accounts: an IBAN's ending, its account number within it.
    expect(secretInTextProblems({ stored: 'DE89370400440532013000' }, [['name', 'Konto 0532013000'], ['beneficiary.name', 'Store 3000']]).map((p) => p.field)).toEqual(['name']);
  });

  it('accepts a text holding the rest of it without the last four: nothing there the caller could learn from', () => {
    const candidates = Array.from({ length: 50 }, (_, i) => `12345${String(i).padStart(2, '0')}`).join(' ');
    expect(fields('12-3456789', [['legalName', `Contoso ${candidates}`], ['address', 'Suite 1234567']])).toEqual([]);
  });

  it('looks for none masked whole (shorter than eight), or not stored', () => {
    expect(fields('AB12345', [['legalName', 'Contoso AB12345']])).toEqual([]);
    expect(fields(undefined, [['legalName', 'Contoso 123456789']])).toEqual([]);
  });

  it('looks for a secret the request sends whole, as before, next to a stored one', () => {
    const both = secretsInTextProblems(['DE123456789', { stored: '98-7656789' }], [['a', 'USt 123456789'], ['b', 'EIN 127656789'], ['c', 'Contoso']], 'm');
    expect(both).toEqual([
      { field: 'a', message: 'm' },
      { field: 'b', message: 'm; a number ending in its last four is taken for it' },
    ]);
  });
});
