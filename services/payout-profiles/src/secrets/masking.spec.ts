import { maskSecret } from './masking';

describe('maskSecret', () => {
  it('shows the last four characters of a long secret, behind a fixed mask', () => {
    expect(maskSecret('DE89370400440532013000')).toBe('****3000');
    expect(maskSecret('123456789')).toBe('****6789');
  });

  it.each(['AB12', 'ABCDE', '12345678'])('masks %j whole, in the same eight characters', (value) => {
    expect(maskSecret(value)).toBe('********');
  });
});
