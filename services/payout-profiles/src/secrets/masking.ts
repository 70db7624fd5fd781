/** What the API shows of a secret: a fixed mask and its last four characters (never its length). */
export function maskSecret(value: string): string {
  return `****${value.slice(-4)}`;
}
