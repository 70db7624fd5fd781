/**
 * Delay before the next attempt after `attempts` failed ones: base, 2x base, 4x base..., never above `max`, each spread
 * over 80% to 120% of itself (`draw`: a number from 0 to 1, random by default), so that emails failing together (an
 * SMTP server restarting, answering 421 to all) do not come back together at every step.
 */
export function retryDelay(attempts: number, baseMs: number, maxMs: number, draw: () => number = Math.random): number {
  const exponent = Math.max(0, attempts - 1);
  const delay = Math.min(maxMs, baseMs * 2 ** Math.min(exponent, 30));
  return Math.min(maxMs, Math.round(delay * (0.8 + 0.4 * draw())));
}
