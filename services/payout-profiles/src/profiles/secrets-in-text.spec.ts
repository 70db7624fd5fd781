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
