/**
 * The partner portal's page of one enrollment, where its admin follows and continues it: what the notification
 * service's enrollment messages link to and the invitations overview's CONTINUE action leads to (one shape for both).
 */
export function enrollmentPageUrl(portalBaseUrl: string, enrollmentId: string): string {
  return `${portalBaseUrl.replace(/\/+$/, '')}/incentives/enrollments/${encodeURIComponent(enrollmentId)}`;
}
