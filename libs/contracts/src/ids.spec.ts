import { deterministicId, sameId } from './ids';

// Stored ids (enrollments, invitations, events, messages) are derived with it: the same parts must keep their id.
describe('deterministicId', () => {
  it('derives the same UUID (version 5 layout) from the same parts, as it always did', () => {
    expect(deterministicId('enrollment', 'P', 'L', 'FY27')).toBe('4df71318-fcc6-5a99-99c7-e1bb3f4895a2');
    expect(deterministicId('notification:evt:u1:EMAIL')).toBe('d1790dd2-511f-5765-9924-d8c09c00be9c');
  });

  it('tells parts apart from their concatenation', () => {
    expect(deterministicId('ab', 'c')).not.toBe(deterministicId('a', 'bc'));
    expect(deterministicId('enrollment', 'P', 'L', 'FY27')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('sameId', () => {
  it('reads a UUID the same in either case, and other ids as they are written', () => {
    expect(sameId('3f25a1c0-0000-4000-8000-00000000000a', '3F25A1C0-0000-4000-8000-00000000000A')).toBe(true);
    expect(sameId('partner-1', 'partner-1')).toBe(true);
    expect(sameId('partner-1', 'PARTNER-1')).toBe(false);
    expect(sameId('3f25a1c0-0000-4000-8000-00000000000a', '3f25a1c0-0000-4000-8000-00000000000b')).toBe(false);
  });
});
