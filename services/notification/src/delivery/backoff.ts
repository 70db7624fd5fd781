/** Delay before the next attempt after `attempts` failed ones: base, 2x base, 4x base..., never above `max`. */
export function retryDelay(attempts: number, baseMs: number, maxMs: number): number {
  const exponent = Math.max(0, attempts - 1);
  return Math.min(maxMs, baseMs * 2 ** Math.min(exponent, 30));
}
