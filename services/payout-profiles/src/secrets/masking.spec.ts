import { maskSecret } from './masking';

describe('maskSecret', () => {
  it('shows the last four characters of a long secret, behind a fixed mask', () => {
    expect(maskSecret('DE89370400440532013000')).toBe('****3000');
    expect(maskSecret('123456789')).toBe('****6789');
  });

  // SPEC §1 Payout 5: "shown masked (last four characters)", whatever the length of the secret.
  it.each([
    ['12345678', '****5678'], // a US account number of eight digits
    ['1234567', '****4567'],
    ['ABCDE', '****BCDE'],
  ])('shows the last four characters of the short secret %j too', (value, masked) => {
    expect(maskSecret(value)).toBe(masked);
  });

  // Showing the last four of a secret of four characters or fewer would show all of it: masked whole instead.
  it.each(['AB12', 'AB1', 'A'])('masks %j (four characters or fewer) whole, in the same eight characters', (value) => {
    expect(maskSecret(value)).toBe('********');
  });
});
