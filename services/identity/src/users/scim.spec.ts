import { BY_DIRECTORY, createdName, DirectoryUser, mapScimResources, mapScimUser, planImport } from './scim';

const entra = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  id: 'ignored-directory-id',
  externalId: 'e-1',
  userName: 'grace@contoso.example',
  name: { givenName: 'Grace', familyName: 'Hopper', formatted: 'Grace Hopper' },
  displayName: 'Grace Hopper',
  emails: [
    { value: 'g.hopper@other.example', type: 'other' },
    { value: 'grace@contoso.example', type: 'work', primary: true },
  ],
  active: true,
  meta: { resourceType: 'User' },
};

describe('mapScimUser', () => {
  it('maps an Entra ID user, preferring the primary email and ignoring attributes it does not use', () => {
    expect(mapScimUser(entra, 0)).toEqual({
      index: 0,
      ok: true,
      user: { externalId: 'e-1', email: 'grace@contoso.example', displayName: 'Grace Hopper', givenName: 'Grace', familyName: 'Hopper', active: true },
    });
  });

  it('falls back to the first email, then the userName, and builds a display name from the name parts', () => {
    const { displayName, emails, ...rest } = entra;
    expect(mapScimUser({ ...rest, emails: [{ value: 'first@contoso.example' }] }, 0)).toMatchObject({
      ok: true,
      user: { email: 'first@contoso.example', displayName: 'Grace Hopper' },
    });
    expect(mapScimUser({ externalId: 'e-2', userName: 'upn@contoso.example' }, 0)).toEqual({
      index: 0,
      ok: true,
      user: { externalId: 'e-2', email: 'upn@contoso.example', active: true },
    });
  });

  // A primary email the directory holds wrongly does not hide a deliverable userName or second email.
  it('takes the userName, then another email, when the primary email is no deliverable address', () => {
    expect(mapScimUser({ externalId: 'e-3', userName: 'grace@contoso.example', emails: [{ value: 'grace@contoso', primary: true }] }, 0)).toMatchObject({
      ok: true,
      user: { email: 'grace@contoso.example' },
    });
    expect(mapScimUser({ externalId: 'e-4', userName: 'grace', emails: [{ value: 'grace@contoso', primary: true }, { value: 'g.hopper@contoso.example' }] }, 0)).toMatchObject({
      ok: true,
      user: { email: 'g.hopper@contoso.example' },
    });
    // A deliverable primary one is kept over the userName.
    expect(mapScimUser({ externalId: 'e-5', userName: 'upn@contoso.example', emails: [{ value: 'grace@contoso.example', primary: true }] }, 0)).toMatchObject({
      user: { email: 'grace@contoso.example' },
    });
  });

  it('takes an address holding a zero-width non-joiner, as Persian and Indic addresses need (IDNA CONTEXTJ)', () => {
    // Between two Arabic-script letters (Persian's می‌ر), where it changes how they join.
    const email = '\u0645\u06cc\u200c\u0631@contoso.example';
    expect(mapScimUser({ externalId: 'e-zwnj', emails: [{ value: email }] }, 0)).toMatchObject({ ok: true, user: { email } });
    // Before a Latin letter it joins nothing: an address that looks like one without it.
    expect(mapScimUser({ externalId: 'e-zwnj-latin', emails: [{ value: 'm\u06cc\u200cr@contoso.example' }] }, 0)).toMatchObject({ ok: false });
  });

  it('names a user it creates by the email when the entry carries no name, without taking the email as the directory\'s name', () => {
    const mapped = mapScimUser({ externalId: 'e-2', userName: 'upn@contoso.example' }, 0);
    expect(mapped.ok && mapped.user.displayName).toBeUndefined();
    expect(mapped.ok && createdName(mapped.user)).toBe('upn@contoso.example');
    expect(mapped.ok && createdName({ ...mapped.user, displayName: 'Grace Hopper' })).toBe('Grace Hopper');
  });

  it('takes an email longer than a name without a name (a deactivation), naming a user it creates by the local part', () => {
    const long = `${'l'.repeat(60)}@${['d', 'e', 'f'].map((c) => c.repeat(60)).join('.')}.example`;
    expect(long.length).toBeGreaterThan(200);
    const mapped = mapScimUser({ externalId: 'e-long', userName: long, active: false }, 0);
    expect(mapped).toEqual({ index: 0, ok: true, user: { externalId: 'e-long', email: long, active: false } });
    expect(mapped.ok && createdName(mapped.user)).toBe('l'.repeat(60));
  });

  // The directory sent no display name: the one made of its name parts (or name.formatted) is cut to 200 characters,
  // not a reason to drop the entry (its email, its deactivation).
  it('cuts a display name it makes of long name parts (or name.formatted) to 200 characters; one the directory sent longer is refused', () => {
    const { displayName, ...withoutDisplayName } = entra;
    const parts = mapScimUser({ ...withoutDisplayName, name: { givenName: 'g'.repeat(150), familyName: 'h'.repeat(150) } }, 0);
    expect(parts).toMatchObject({ ok: true, user: { displayName: `${'g'.repeat(150)} ${'h'.repeat(49)}`, givenName: 'g'.repeat(150), familyName: 'h'.repeat(150) } });
    // Not in the middle of a character written with two UTF-16 units.
    const emoji = mapScimUser({ ...withoutDisplayName, name: { formatted: `${'f'.repeat(199)}\u{1F600}` } }, 0);
    expect(emoji).toMatchObject({ ok: true, user: { displayName: 'f'.repeat(199) } });
    expect(mapScimUser({ ...entra, displayName: 'd'.repeat(201) }, 0)).toMatchObject({ ok: false, reason: 'displayName is longer than 200 characters' });
  });

  // As POST /v1/users's names (Text): shown in emails and lists, where U+202E would make a name read reversed.
  it('refuses a name holding a control character or a bidirectional override, naming the attribute; takes one with nothing visible as not sent', () => {
    expect(mapScimUser({ ...entra, displayName: 'Eve\u202egnp.exe' }, 0)).toMatchObject({ ok: false, externalId: 'e-1', reason: 'displayName must not contain control characters or bidirectional overrides' });
    // Nothing visible is not sent, as blanks: the display name comes from the name then, and a name part is null.
    expect(mapScimUser({ ...entra, displayName: '\u200b' }, 0)).toMatchObject({ ok: true, user: { displayName: 'Grace Hopper' } });
    expect(mapScimUser({ ...entra, name: { givenName: '\u200b', familyName: 'Hopper' } }, 0)).toMatchObject({ ok: true, user: { givenName: null } });
    // Reported by the attribute the display name came from.
    const { displayName: _sent, ...withoutDisplayName } = entra;
    expect(mapScimUser({ ...withoutDisplayName, name: { formatted: 'Eve\u202egnp.exe' } }, 0)).toMatchObject({ ok: false, reason: 'name.formatted must not contain control characters or bidirectional overrides' });
    expect(mapScimUser({ ...entra, name: { givenName: 'Gr\u0000ace', familyName: 'Hopper' } }, 0)).toMatchObject({ ok: false, reason: 'name.givenName must not contain control characters or bidirectional overrides' });
    expect(mapScimUser({ ...entra, displayName: 'Grace\u200dHopper' }, 0)).toMatchObject({ ok: true });
  });

  it('maps a name part sent empty (or null) to null, and one not sent to nothing', () => {
    expect(mapScimUser({ ...entra, name: { givenName: '', familyName: null } }, 0)).toMatchObject({ ok: true, user: { givenName: null, familyName: null } });
    expect(mapScimUser({ ...entra, name: { givenName: '  ', familyName: 'Hopper' } }, 0)).toMatchObject({ ok: true, user: { givenName: null, familyName: 'Hopper' } });
    const { name, ...withoutName } = entra;
    const mapped = mapScimUser(withoutName, 0);
    expect(mapped.ok && mapped.user).not.toHaveProperty('givenName');
    expect(mapped.ok && mapped.user).not.toHaveProperty('familyName');
  });

  it.each([
    ['not an object', 'x', 'resource is not a SCIM User object'],
    ['no externalId', { ...entra, externalId: undefined }, 'externalId is required'],
    ['a blank externalId', { ...entra, externalId: '  ' }, 'externalId is required'],
    ['no usable email', { externalId: 'e', userName: 'grace', emails: [{ value: 'not-an-email' }] }, 'no valid email address (emails[].value or userName)'],
    ['a bad active flag', { ...entra, active: 'maybe' }, 'active must be true or false'],
    // isEmail takes them, an SMTP client refuses them: every mail to the user would fail.
    ['an email with a line break in a quoted local part', { externalId: 'e', emails: [{ value: '"a\r\nb"@contoso.example' }] }, 'no valid email address (emails[].value or userName)'],
    ['an email with angle brackets', { externalId: 'e', userName: '"<a>"@contoso.example' }, 'no valid email address (emails[].value or userName)'],
    // isEmail throws on it (a URIError): one entry would have failed the whole import.
    ['an email that is no well-formed Unicode', { externalId: 'e', emails: [{ value: 'a@b\ud800c.example' }] }, 'no valid email address (emails[].value or userName)'],
    ['an email with an invisible character (a zero-width space)', { externalId: 'e', emails: [{ value: 'gr\u200bace@contoso.example' }] }, 'no valid email address (emails[].value or userName)'],
    ['an email with a right-to-left override', { externalId: 'e', emails: [{ value: '\u202egrace@contoso.example' }] }, 'no valid email address (emails[].value or userName)'],
    ['an email with a control character in a quoted local part', { externalId: 'e', emails: [{ value: '"a\u0001b"@contoso.example' }] }, 'no valid email address (emails[].value or userName)'],
    // The request's body check leaves a directory export's resources to the import: the database would store U+FFFD.
    ['a display name that is no well-formed Unicode', { ...entra, displayName: 'Grace \ud83d' }, 'externalId and the names must be well-formed Unicode text (a lone surrogate)'],
    ['a family name that is no well-formed Unicode', { ...entra, name: { givenName: 'Grace', familyName: '\udc00Hopper' } }, 'externalId and the names must be well-formed Unicode text (a lone surrogate)'],
    ['a given name of 201 characters', { ...entra, name: { givenName: 'g'.repeat(201), familyName: 'Hopper' } }, 'name.givenName and name.familyName are at most 200 characters'],
    ['a family name of 201 characters', { ...entra, name: { givenName: 'Grace', familyName: 'h'.repeat(201) } }, 'name.givenName and name.familyName are at most 200 characters'],
  ])('rejects %s with a reason', (_, resource, reason) => {
    expect(mapScimUser(resource, 3)).toMatchObject({ index: 3, ok: false, reason });
  });

  // Answered, and stored with an Idempotency-Key's answer, a lone surrogate would come back to a retry as U+FFFD.
  it.each([
    ['no usable email', { externalId: 'e\ud800', emails: [{ value: 'not-an-email' }] }],
    ['an externalId of 257 characters', { ...entra, externalId: `\ud800${'e'.repeat(256)}` }],
    ['a given name of 201 characters', { ...entra, externalId: 'e\udc00', name: { givenName: 'g'.repeat(201), familyName: 'Hopper' } }],
  ])('rejects %s without echoing an externalId that is no well-formed Unicode', (_, resource) => {
    const mapped = mapScimUser(resource, 1);
    expect(mapped).toMatchObject({ index: 1, ok: false });
    expect(mapped).not.toHaveProperty('externalId');
  });

  it('accepts active as a "False" string, as some directories send it', () => {
    expect(mapScimUser({ ...entra, active: 'False' }, 0)).toMatchObject({ ok: true, user: { active: false } });
    // With blanks around it (an export's padding): the user it disables is disabled.
    expect(mapScimUser({ ...entra, active: 'false ' }, 0)).toMatchObject({ ok: true, user: { active: false } });
    expect(mapScimUser({ ...entra, active: ' TRUE' }, 0)).toMatchObject({ ok: true, user: { active: true } });
  });

  it('reads attribute names in any case (RFC 7643 2.1), as a converted export may send them', () => {
    const shouting = {
      ExternalId: 'e-7',
      UserName: 'ignored@contoso.example',
      Emails: [{ Value: 'other@contoso.example' }, { Value: 'grace@contoso.example', Primary: 'True' }],
      Name: { GivenName: 'Grace', FamilyName: 'Hopper' },
      Active: false,
    };
    expect(mapScimUser(shouting, 0)).toEqual({
      index: 0,
      ok: true,
      user: { externalId: 'e-7', email: 'grace@contoso.example', displayName: 'Grace Hopper', givenName: 'Grace', familyName: 'Hopper', active: false },
    });
    // The attribute as named wins over another spelling of it.
    expect(mapScimUser({ ...entra, displayName: 'As named', DisplayName: 'Other' }, 0)).toMatchObject({ ok: true, user: { displayName: 'As named' } });
  });
});

describe('mapScimResources', () => {
  it('rejects a second entry with the same externalId or the same email (case-insensitive, composed or not)', () => {
    const results = mapScimResources([
      entra,
      { ...entra, emails: [{ value: 'x@contoso.example' }] },
      { ...entra, externalId: 'e-9', emails: [{ value: 'GRACE@contoso.example', primary: true }] },
      { ...entra, externalId: 'e-10', emails: [{ value: 'jos\u00e9@contoso.example', primary: true }] },
      { ...entra, externalId: 'e-11', emails: [{ value: 'jose\u0301@contoso.example', primary: true }] },
    ]);
    expect(results.map((r) => (r.ok ? 'ok' : r.reason))).toEqual([
      'ok',
      'externalId appears more than once in this import',
      'email appears more than once in this import',
      'ok',
      'email appears more than once in this import',
    ]);
  });

  it("lets an inactive entry share an active one's email: it claims none, and deactivates its user all the same", () => {
    const newHire = { ...entra, externalId: 'new-hire', emails: [{ value: 'jo@contoso.example', primary: true }], active: true };
    const leaver = { ...entra, externalId: 'leaver', emails: [{ value: 'jo@contoso.example', primary: true }], active: false };
    const otherHire = { ...entra, externalId: 'other-hire', emails: [{ value: 'jo@contoso.example', primary: true }], active: true };
    expect(mapScimResources([newHire, leaver])).toEqual([
      expect.objectContaining({ ok: true, user: expect.objectContaining({ externalId: 'new-hire' }) }),
      { index: 1, ok: false, externalId: 'leaver', reason: 'email appears more than once in this import', inactive: true },
    ]);
    // The other way round: the leaver first, the new hire's entry still takes the email.
    expect(mapScimResources([leaver, newHire]).map((r) => r.ok)).toEqual([true, true]);
    // Two active entries still may not share one.
    expect(mapScimResources([leaver, newHire, otherHire]).map((r) => (r.ok ? 'ok' : r.reason))).toEqual(['ok', 'ok', 'email appears more than once in this import']);
  });
});

describe('planImport', () => {
  const incoming = { externalId: 'e-1', email: 'grace@contoso.example', displayName: 'Grace Hopper', givenName: 'Grace', familyName: 'Hopper', active: true } satisfies DirectoryUser;
  const known = { ...incoming };

  it('creates unknown active users, and does not create unknown inactive ones', () => {
    expect(planImport(undefined, incoming)).toEqual({ action: 'create' });
    expect(planImport(undefined, { ...incoming, active: false })).toMatchObject({ action: 'unchanged' });
  });

  it('changes nothing when the directory says what is stored', () => {
    expect(planImport(known, incoming)).toEqual({ action: 'unchanged' });
  });

  it('updates names and email from the directory', () => {
    expect(planImport(known, { ...incoming, displayName: 'Rear Admiral Hopper', email: 'grace.hopper@contoso.example' })).toEqual({
      action: 'update',
      change: { displayName: 'Rear Admiral Hopper', email: 'grace.hopper@contoso.example' },
      reason: 'email; displayName',
    });
  });

  it('deactivates users marked inactive, with any name change in the same write', () => {
    expect(planImport(known, { ...incoming, active: false, familyName: 'H.' })).toEqual({
      action: 'deactivate',
      change: { familyName: 'H.', active: false, deactivatedBy: BY_DIRECTORY },
      reason: 'inactive in the directory; familyName',
    });
    expect(planImport({ ...known, active: false }, { ...incoming, active: false })).toEqual({ action: 'unchanged' });
  });

  it('reactivates a user the directory deactivated once the directory lists it as active again', () => {
    expect(planImport({ ...known, active: false, deactivatedBy: BY_DIRECTORY }, incoming)).toEqual({
      action: 'update',
      change: { active: true, deactivatedBy: null },
      reason: 'reactivated',
    });
  });

  it("does not reactivate a user an admin deactivated (or one deactivated before this was recorded); names still follow", () => {
    for (const deactivatedBy of ['admin-user-id', undefined]) {
      const inactive = { ...known, active: false, deactivatedBy };
      expect(planImport(inactive, incoming)).toEqual({ action: 'unchanged', reason: 'deactivated by an admin: not reactivated' });
      expect(planImport(inactive, { ...incoming, displayName: 'G. Hopper' })).toEqual({
        action: 'update',
        change: { displayName: 'G. Hopper' },
        reason: 'deactivated by an admin: not reactivated; displayName',
      });
    }
  });

  it('links a user created by hand (same email, no externalId) to the directory entry', () => {
    const { externalId, ...manual } = known;
    expect(planImport(manual, incoming)).toEqual({
      action: 'update',
      change: { externalId: 'e-1' },
      reason: 'linked to the directory by email',
    });
  });

  it('keeps stored names the directory does not send', () => {
    const { givenName, familyName, ...withoutNames } = incoming;
    expect(planImport(known, withoutNames)).toEqual({ action: 'unchanged' });
  });

  it('keeps the stored display name of a user whose entry has only userName/emails: no rename to the email', () => {
    const mapped = mapScimUser({ externalId: 'e-1', userName: 'grace@contoso.example', emails: [{ value: 'grace@contoso.example' }] }, 0);
    if (!mapped.ok) throw new Error(mapped.reason);
    // Linked by email: the link is the only change.
    const { externalId, ...manual } = known;
    expect(planImport(manual, mapped.user)).toEqual({ action: 'update', change: { externalId: 'e-1' }, reason: 'linked to the directory by email' });
    // Already linked: nothing to do, nothing published.
    expect(planImport(known, mapped.user)).toEqual({ action: 'unchanged' });
  });

  it('clears a stored name part the directory sends empty, and leaves an absent one absent', () => {
    expect(planImport(known, { ...incoming, givenName: null })).toEqual({ action: 'update', change: { givenName: null }, reason: 'givenName' });
    const { givenName, ...withoutGivenName } = known;
    expect(planImport(withoutGivenName, { ...incoming, givenName: null })).toEqual({ action: 'unchanged' });
  });
});
