// No imports: tracing.ts, loaded before anything it instruments, reads it too.

/**
 * Query parameters whose values no log line or span keeps: a list's `cursor` holds the last item's sort values in
 * clear (base64url JSON), the users list's a user's email address.
 */
export const REDACTED_QUERY_PARAMS = ['cursor'];

/** `url` (path and query) with the values of REDACTED_QUERY_PARAMS replaced: what request logs and error logs show. */
export function loggedUrl(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return url;
  const query = url
    .slice(at + 1)
    .split('&')
    .map((pair) => {
      const name = pair.split('=', 1)[0];
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // a malformed name is shown as it came; it is not one of ours
      }
      return REDACTED_QUERY_PARAMS.includes(decoded) && pair.includes('=') ? `${name}=[redacted]` : pair;
    })
    .join('&');
  return `${url.slice(0, at)}?${query}`;
}
