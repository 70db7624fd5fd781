/**
 * What the API shows of a secret: a fixed mask and its last four characters (never its length). A value of eight
 * characters or fewer (a short foreign TIN or VAT id may have four) is masked whole: its last four would be half of it
 * or all of it.
 */
export function maskSecret(value: string): string {
  return value.length > 8 ? `****${value.slice(-4)}` : '********';
}
