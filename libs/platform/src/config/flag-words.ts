/**
 * How a setting says true or false (as envalid's `bool` reads them): the `flag` validator's words, and what tracing
 * reads OTEL_SDK_DISABLED with before the config is loaded. No imports: tracing loads it before anything else.
 */
export function flagValue(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (['true', 't', 'yes', 'on', '1'].includes(v)) return true;
  if (['false', 'f', 'no', 'off', '0'].includes(v)) return false;
  return undefined;
}
