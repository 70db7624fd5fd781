import { maskSecret } from './masking';

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
