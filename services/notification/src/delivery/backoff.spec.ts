import { retryDelay } from './backoff';

describe('retryDelay', () => {
  it('doubles from the base after each failed attempt', () => {
    expect([1, 2, 3, 4].map((n) => retryDelay(n, 1_000, 300_000))).toEqual([1_000, 2_000, 4_000, 8_000]);
  });

  it('never exceeds the cap, even after very many attempts', () => {
    expect(retryDelay(9, 1_000, 60_000)).toBe(60_000);
    expect(retryDelay(500, 1_000, 60_000)).toBe(60_000);
  });
});
