import { secretsInTextProblems } from '../profiles/secrets-in-text';
import { asciiDigits, clipped, maskRecognized, maskSecret, maskSecretsIn } from './masking';
import { SecretBox } from './secret-box';

describe('maskSecret', () => {
  it('shows the last four characters of a long secret, behind a fixed mask', () => {
    expect(maskSecret('DE89370400440532013000')).toBe('****3000');
    expect(maskSecret('123456789')).toBe('****6789');
  });

  // SPEC §1 Payout 5: "shown masked (last four characters)": also an eight-character secret (half of it stays hidden).
  it('shows the last four characters of an eight-character secret too', () => {
    expect(maskSecret('12345678')).toBe('****5678'); // a US account number of eight digits
  });

  // Shorter, its last four would be most or all of it (four of five leave one character to guess): masked whole.
  it.each(['1234567', 'ABCDE', 'AB12', 'AB1', 'A'])('masks %j (shorter than eight characters) whole, in the same eight characters', (value) => {
    expect(maskSecret(value)).toBe('********');
  });
});

describe('maskSecretsIn (validation reasons)', () => {
  const iban = 'DE89370400440532013000';

  it('masks a secret of the profile wherever it is quoted: as stored, grouped, with dashes or dots, in lower case', () => {
    for (const quoted of [iban, 'DE89 3704 0044 0532 0130 00', 'de89-3704-0044-0532-0130-00', 'DE89.3704.0044.0532.0130.00']) {
      expect(maskSecretsIn(`IBAN ${quoted} does not match the bank statement`, [iban])).toBe('IBAN ****3000 does not match the bank statement');
    }
  });

  it('masks every secret given, every time it appears, also short ones (whole)', () => {
    expect(maskSecretsIn('TIN 12-3456789 / VAT DE 123 456 789; TIN again: 123456789', ['123456789', 'DE123456789'])).toBe(
      'TIN ****6789 / VAT ****6789; TIN again: ****6789',
    );
    expect(maskSecretsIn('foreign TIN AB12X is not registered', ['AB12X'])).toBe('foreign TIN ******** is not registered');
  });

  it('masks the end of a secret of the profile quoted on its own (five characters or more)', () => {
    expect(maskSecretsIn('Account ending 1234567 is closed', ['99991234567'])).toBe('Account ending ******** is closed');
    expect(maskSecretsIn('Account ending 12 34 567 is closed', ['99991234567'])).toBe('Account ending ******** is closed');
    expect(maskSecretsIn('IBAN ending 0532 0130 00 unknown', [iban])).toBe('IBAN ending ****3000 unknown');
    // The last four are what the API shows anyway; bank and branch codes (public) and other numbers and words stay.
    expect(maskSecretsIn('Account ending 4567, case 20431, by Hopper', ['99991234567'])).toBe('Account ending 4567, case 20431, by Hopper');
    expect(maskSecretsIn('Sort code 60-16-13 is closed', ['GB29NWBK60161331926819'])).toBe('Sort code 60-16-13 is closed');
  });

  // With the last four the API shows (`****6789`), a tax id's first five (an SSN's area and group) or seven digits (an
  // EIN's) give the whole id away: any part of four characters or more of a secret that is no IBAN is masked whole.
  it('masks any part of a tax id or account number quoted on its own (four characters or more), whole', () => {
    expect(maskSecretsIn('SSN area/group 123-45 is not valid', ['123456789'])).toBe('SSN area/group ******** is not valid');
    expect(maskSecretsIn('EIN beginning 12-34567 does not match IRS records', ['123456789'])).toBe('EIN beginning ******** does not match IRS records');
    expect(maskSecretsIn('VAT 234567 unknown', ['DE123456789'])).toBe('VAT ******** unknown');
    // Four are enough where the secret is short: an eight-digit account's first four and the last four the API shows
    // are all of it; a secret under eight characters, which the API masks whole, shows none of its last four either.
    expect(maskSecretsIn('Account beginning 1234 does not match', ['12345678'])).toBe('Account beginning ******** does not match');
    expect(maskSecretsIn('acct starts 1234, ends 5678', ['12345678'])).toBe('acct starts ********, ends 5678');
    expect(maskSecretsIn('Account ending 2345 closed', ['12345'])).toBe('Account ending ******** closed');
    expect(maskSecretsIn('Account ending 4567 closed', ['1234567'])).toBe('Account ending ******** closed');
    // Not inside another word or number, nor a part shorter than four, nor an IBAN's bank code.
    expect(maskSecretsIn('ref 9123456 and code 234', ['123456789'])).toBe('ref 9123456 and code 234');
    expect(maskSecretsIn('Sort code 601613 is valid', ['GB29NWBK60161331926819'])).toBe('Sort code 601613 is valid');
  });

  // Where the account number stands inside the IBAN (national check digits after it: BE, NO), a part of it quoted with
  // the BIC (in clear) and the last four the API shows gives the IBAN away; the bank code before it is public.
  it("masks a part of an IBAN's account number inside it, keeping its bank and branch codes", () => {
    expect(maskSecretsIn('Account 0075470 is closed, bank 539', ['BE68539007547034'])).toBe('Account ******** is closed, bank 539');
    expect(maskSecretsIn('Account 111794 at 8601', ['NO9386011117947'])).toBe('Account ******** at 8601');
    expect(maskSecretsIn('ABI 05428 CAB 11101 refused', ['IT60X0542811101000000123456'])).toBe('ABI 05428 CAB 11101 refused');
    expect(maskSecretsIn('Entity 2100 office 0418, account 4502 unknown', ['ES9121000418450200051332'])).toBe('Entity 2100 office 0418, account ******** unknown');
  });

  // With the bank code and the last four the API shows, the check digits and the IBAN's checksums leave a short IBAN
  // (Norway's: 15 characters) a handful of candidates: a piece holding them is masked whole.
  it("masks a quoted head of an IBAN that holds its check digits, not only its account number", () => {
    expect(maskSecretsIn('IBAN NO93 8601 1xxx rejected', ['NO9386011117947'])).toBe('IBAN ******** 1xxx rejected');
    expect(maskSecretsIn('check digits 9386 wrong', ['NO9386011117947'])).toBe('check digits ******** wrong');
    expect(maskSecretsIn('bank 8601 fine', ['NO9386011117947'])).toBe('bank 8601 fine');
  });

  it("masks a secret of the profile whatever stands between its characters (colons, pipes, apostrophes, plus signs...)", () => {
    for (const quoted of ['123:45:6789', '123|456|789', '123+456+789', "123'456'789", '123;456;789', '12\u00b73456789']) {
      expect(maskSecretsIn(`TIN ${quoted} bad`, ['123456789'])).toBe('TIN ****6789 bad');
    }
    expect(maskSecretsIn('TIN 123 and then 456789 and 6789', ['123456789'])).toBe('TIN 123 and then ******** and 6789');
  });

  // Text pasted from a document or a PDF: en dashes, non-breaking hyphens and spaces, the minus sign, full-width digits;
  // and the other ways people group digits (commas, underscores).
  it('masks secrets quoted with any dash, no-break spaces, commas, underscores or full-width characters, given or not', () => {
    const quoted = [
      ['EIN 12\u20133456789 does not match IRS records', 'EIN ****6789 does not match IRS records'],
      ['EIN 12\u22123456789 does not match', 'EIN ****6789 does not match'],
      ['Account 123,456,789 unknown', 'Account ****6789 unknown'],
      ['acct 1234\u20115678 closed', 'acct ****5678 closed'],
      ['acct \uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18 closed', 'acct ****5678 closed'],
      ['IBAN DE89\u20133704\u20130044\u20130532\u20130130\u201300 closed', 'IBAN ****3000 closed'],
      ['IBAN DE89_3704_0044_0532_0130_00 closed', 'IBAN ****3000 closed'],
      ['IBAN DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000 closed', 'IBAN ****3000 closed'],
    ];
    for (const [reason, masked] of quoted) {
      expect(maskSecretsIn(reason, ['123456789', iban, '12345678'])).toBe(masked);
      expect(maskSecretsIn(reason, [])).toBe(masked);
    }
    const dates = 'valid 2026\u201307\u201301 \u2013 2026-12-31, for FY 2025\u20132026, sent 2026-06-30, 2026-07-02';
    expect(maskSecretsIn(dates, [])).toBe(dates);
  });

  it('masks any run of eight or more digits, keeping the last four, as a safety net for secrets it was not given', () => {
    expect(maskSecretsIn('old account 000987654321 closed; call 555-1234 on 2026-07-01', [])).toBe(
      'old account ****4321 closed; call 555-1234 on 2026-07-01',
    );
  });

  it('masks, without being given them, IBANs and tax ids written with spaces or dashes, but not dates', () => {
    expect(maskSecretsIn('IBAN FR1420041010050500013M02606', [])).toBe('IBAN ****2606');
    expect(maskSecretsIn('IBAN DE89 3704 0044 0532 0130 00 and GB82 WEST 1234 5698 7654 32 differ', [])).toBe('IBAN ****3000 and ****5432 differ');
    expect(maskSecretsIn('TIN 12-3456789 or SSN 123-45-6789, form dated 2026-07-01', [])).toBe('TIN ****6789 or SSN ****6789, form dated 2026-07-01');
  });

  // Secrets it was not given, quoted as people do: wider gaps, lower case. The safety net is all there is for another
  // account's, or for the profile's own when its key is gone.
  it('masks, without being given them, IBANs in any case or grouping and digit runs with wider gaps; dates next to each other stay', () => {
    expect(maskSecretsIn('IBAN DE89  3704  0044  0532  0130  00', [])).toBe('IBAN ****3000');
    expect(maskSecretsIn('iban fr14 2004 1010 0505 0001 3m02 606 refused', [])).toBe('iban ****2606 refused');
    expect(maskSecretsIn('iban fr1420041010050500013m02606', [])).toBe('iban ****2606');
    expect(maskSecretsIn('account mt84malt011000012345mtlcast001s closed', [])).toBe('account ****001S closed');
    expect(maskSecretsIn('TIN 12 - 3456789 and SSN 123 - 45 - 6789 do not match', [])).toBe('TIN ****6789 and SSN ****6789 do not match');
    expect(maskSecretsIn('Account 0001  2345  6789 closed', [])).toBe('Account ****6789 closed');
    expect(maskSecretsIn('certificate valid 2026-07-01 - 2026-12-31, sent 2026-06-30', [])).toBe('certificate valid 2026-07-01 - 2026-12-31, sent 2026-06-30');
    expect(maskSecretsIn('ab12 is no IBAN, nor is fy27 enrollment 2027', [])).toBe('ab12 is no IBAN, nor is fy27 enrollment 2027');
  });

  it('leaves year pairs and words that pass an IBAN check by chance; masks digit runs that only look like they start with a date', () => {
    expect(maskSecretsIn('tax year 2025 - 2026 form missing; also 2025/2026', [])).toBe('tax year 2025 - 2026 form missing; also 2025/2026');
    expect(maskSecretsIn('Statement is 90 months old please upload a recent one', [])).toBe('Statement is 90 months old please upload a recent one');
    expect(maskSecretsIn('Account 1234-56-78-9012 closed', [])).toBe('Account ****9012 closed');
    expect(maskSecretsIn('Ref 0012-34-56 7890 1234', [])).toBe('Ref ****1234');
    // Years or a date inside a run of digits are part of it; a date with its time stays.
    expect(maskSecretsIn('Account 1234 2019 2020 5678 rejected', [])).toBe('Account ****5678 rejected');
    expect(maskSecretsIn('Account 2019 2020 1234 5678', [])).toBe('Account ****5678');
    expect(maskSecretsIn('Ref 4321 2019-05-12 8765', [])).toBe('Ref ****8765');
    expect(maskSecretsIn('received 2026-07-01T00:00:00Z', [])).toBe('received 2026-07-01T00:00:00Z');
  });

  it('leaves text without secrets as it is', () => {
    expect(maskSecretsIn('Bank statement does not match the beneficiary name', ['DE89370400440532013000', undefined])).toBe(
      'Bank statement does not match the beneficiary name',
    );
  });
});

describe('maskRecognized (superseded secrets, known by their digests)', () => {
  const box = new SecretBox({ PAYOUT_ENCRYPTION_KEYS: { k1: Buffer.alloc(32, 7).toString('base64') }, PAYOUT_ENCRYPTION_ACTIVE_KEY_ID: 'k1' });
  const digests = [box.digest('7654-321'), box.digest('de89 3704 0044 0532 0130 00'), box.digest('AB12')];
  const recognized = box.digestMatcher(digests);

  it('masks a superseded secret quoted as is, grouped, or in another case; leaves words and other numbers', () => {
    expect(maskRecognized('Account 7654321 is closed; 7654 321 too; 76543210 is another', recognized)).toBe('Account ******** is closed; ******** too; 76543210 is another');
    expect(maskRecognized('IBAN DE89 3704 0044 0532 0130 00 (old)', recognized)).toBe('IBAN ****3000 (old)');
    expect(maskRecognized('TIN ab12, not AB123', recognized)).toBe('TIN ********, not AB123');
  });

  it('recognizes nothing by digests whose key is not configured, and keeps no secret in the digest', () => {
    const other = new SecretBox({ PAYOUT_ENCRYPTION_KEYS: { k2: Buffer.alloc(32, 9).toString('base64') }, PAYOUT_ENCRYPTION_ACTIVE_KEY_ID: 'k2' });
    expect(other.digestMatcher(digests)('7654321')).toBe(false);
    expect(JSON.stringify(digests)).not.toContain('7654321');
    expect(box.digestMatcher(digests)('7654321')).toBe(true);
  });

  it('runs before the safety net in maskSecretsIn', () => {
    expect(maskSecretsIn('Account 7654321 and 000987654321', [], recognized)).toBe('Account ******** and ****4321');
  });
});

describe('clipped (a masked reason kept to the contract length)', () => {
  it('leaves a reason of 1,000 characters or fewer as it is, counted in code points', () => {
    expect(clipped('x'.repeat(1_000))).toBe('x'.repeat(1_000));
    expect(clipped('\u{1F600}'.repeat(1_000))).toBe('\u{1F600}'.repeat(1_000));
  });

  it('cuts a longer one to 1,000 characters ending in an ellipsis, never in the middle of a surrogate pair', () => {
    expect(clipped('y'.repeat(1_001))).toBe(`${'y'.repeat(999)}\u2026`);
    const emoji = clipped('\u{1F600}'.repeat(1_200));
    expect(Array.from(emoji)).toHaveLength(1_000);
    expect(emoji).toBe(`${'\u{1F600}'.repeat(999)}\u2026`);
  });
});

// NFKC leaves Arabic-Indic, Devanagari (...) digits as they are, and `\d` reads ASCII digits only: a secret quoted in
// them went out in clear (stored, answered, in events and emails).
describe('secrets quoted in the digits of another script', () => {
  it('reads every decimal digit as its ASCII digit', () => {
    expect(asciiDigits('٠١٢٣٤٥٦٧٨٩ ۰۱۲۳ ०१२३४५६७८९ 𝟎𝟗𝟘𝟡 abc 42')).toBe('0123456789 0123 0123456789 0909 abc 42');
  });

  it('masks the profile’s own secret, and any long run, written in them', () => {
    expect(maskSecretsIn('Konto ٠٥٣٢٠١٣٠٠٠ unbekannt', ['DE89370400440532013000'])).toBe('Konto ****3000 unbekannt');
    expect(maskSecretsIn('TIN १२-३४५६७८९ does not match', ['12-3456789'])).toBe('TIN ****6789 does not match');
    // A secret this code does not know: the safety net's long digit run.
    expect(maskSecretsIn('account ٩٨٧٦٥٤٣٢١٠ closed', [])).toBe('account ****3210 closed');
  });

  it('finds a secret written in them in a text shown in clear', () => {
    expect(secretsInTextProblems(['12-3456789'], [['legalName', 'Contoso १२३४५६७८९']], 'm')).toEqual([{ field: 'legalName', message: 'm' }]);
  });
});
