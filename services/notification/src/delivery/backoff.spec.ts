import { retryDelay } from './backoff';

describe('retryDelay', () => {
  const middle = () => 0.5;

  it('doubles from the base after each failed attempt', () => {
    expect([1, 2, 3, 4].map((n) => retryDelay(n, 1_000, 300_000, middle))).toEqual([1_000, 2_000, 4_000, 8_000]);
  });

  it('never exceeds the cap, even after very many attempts', () => {
    expect(retryDelay(9, 1_000, 60_000, middle)).toBe(60_000);
    expect(retryDelay(500, 1_000, 60_000, middle)).toBe(60_000);
    expect(retryDelay(500, 1_000, 60_000, () => 0.999)).toBe(60_000);
  });

  // Emails failing together (an SMTP server restarting, a 421 to all) must not come back together at every step.
  it('spreads each delay over 80% to 120% of it (under the cap), drawn for each email', () => {
    expect(retryDelay(3, 1_000, 300_000, () => 0)).toBe(3_200);
    expect(retryDelay(3, 1_000, 300_000, () => 0.999)).toBe(4_798);
    expect(retryDelay(500, 1_000, 60_000, () => 0)).toBe(48_000);
    const drawn = new Set(Array.from({ length: 50 }, () => retryDelay(5, 1_000, 300_000)));
    expect(drawn.size).toBeGreaterThan(10);
    for (const delay of drawn) expect(delay >= 12_800 && delay <= 19_200).toBe(true);
  });
});
