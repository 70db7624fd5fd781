import { loggedId } from './idempotency';

describe('loggedId (an Idempotency-Key record as logs name it)', () => {
  it('keeps the caller and the route, and shows the key only as a digest (a key built from an email stays out of the logs)', () => {
    const id = 'user-1|POST /v1/enrollments|enroll-jane@contoso.com|FY27';
    const logged = loggedId(id);
    expect(logged).toMatch(/^user-1\|POST \/v1\/enrollments\|key:[0-9a-f]{12}$/);
    expect(logged).not.toContain('jane');
    // The same key, the same digest (lines of one request found together); another key, another.
    expect(loggedId(id)).toBe(logged);
    expect(loggedId('user-1|POST /v1/enrollments|enroll-john@contoso.com|FY27')).not.toBe(logged);
  });
});
