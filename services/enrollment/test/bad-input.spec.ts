/**
 * Bad input answers application/problem+json naming the fields, and changes nothing: no program, no enrollment,
 * no event.
 */
import { Topics } from '@lib/contracts';
import { servedDocs } from '@lib/testing';
import { connect } from 'node:net';
import { approvedProfiles, call, createProgram, Harness, RULES, waitForEnrollmentEvent, withHarness, World } from './support';

jest.setTimeout(120_000);

let h: Harness;
let w: World;
withHarness((harness, world) => ((h = harness), (w = world)));

const fields = (body: { errors?: Array<{ field: string }> }) => (body.errors ?? []).map((e) => e.field);
const validProgram = (programId: string) => ({ programId, name: 'Bad input', fiscalYear: 'FY27', requiresEligibility: false, payoutRules: RULES });

function expectProblem(answer: { status: number; headers: Headers; body: any }, status: number) {
  expect(answer.status).toBe(status);
  expect(answer.headers.get('content-type')).toContain('application/problem+json');
  expect(answer.body).toEqual(expect.objectContaining({ status, title: expect.any(String), type: expect.any(String) }));
}

describe('programs', () => {
  it.each([
    ['an unknown field', { surprise: 1 }, 'surprise'],
    ['a bad fiscal year', { fiscalYear: '2027' }, 'fiscalYear'],
    ['an empty name', { name: '' }, 'name'],
    ['a blank name', { name: '   ' }, 'name'],
    ['no currencies', { payoutRules: { ...RULES, allowedCurrencies: [] } }, 'payoutRules.allowedCurrencies'],
    ['a lower-case currency', { payoutRules: { ...RULES, allowedCurrencies: ['usd'] } }, 'payoutRules.allowedCurrencies'],
    // No bank profile can have them (payout-profiles takes ISO 4217 codes in circulation): nobody could ever enroll.
    ['a currency that is no ISO 4217 code', { payoutRules: { ...RULES, allowedCurrencies: ['USD', 'ZZZ'] } }, 'payoutRules.allowedCurrencies'],
    ['a precious metal for a currency', { payoutRules: { ...RULES, allowedCurrencies: ['XAU'] } }, 'payoutRules.allowedCurrencies'],
    ['an unknown payment method', { payoutRules: { ...RULES, allowedPaymentMethods: ['CASH'] } }, 'payoutRules.allowedPaymentMethods'],
    ['an unknown field in the payout rules', { payoutRules: { ...RULES, bonus: true } }, 'payoutRules.bonus'],
    ['a bad state', { state: 'PAUSED' }, 'state'],
    ['a bad id', { programId: 'no spaces please' }, 'programId'],
    // Not "absent": a retry under the same Idempotency-Key would get a new random id, a second program.
    ['a null id', { programId: null }, 'programId'],
    ['a null state', { state: null }, 'state'],
    // DISCONTINUED is final and ends every enrollment: a program starts OPEN or CLOSED.
    ['a discontinued state', { state: 'DISCONTINUED' }, 'state'],
    ['a string for a boolean', { requiresEligibility: 'yes' }, 'requiresEligibility'],
    ['a list for the payout rules', { payoutRules: [] }, 'payoutRules'],
  ])('refuses %s, and creates nothing', async (_, change, field) => {
    const programId = `bad-${Math.random().toString(36).slice(2, 10)}`;
    const answer = await call(h, 'POST', '/v1/programs', { operator: true, body: { ...validProgram(programId), ...change } });
    expectProblem(answer, 400);
    expect(fields(answer.body)).toContain(field);
    const id = (change as { programId?: string }).programId ?? programId;
    expect((await call(h, 'GET', `/v1/programs/${encodeURIComponent(id)}`, { token: await w.token('admin') })).status).toBe(404);
  });

  it('gives a retry under its Idempotency-Key whose answer is gone the program it made: never a second program, a 409, or another request\'s', async () => {
    const forgetAnswers = async (since: Date) => expect((await h.db.collection('idempotency_keys').deleteMany({ createdAt: { $gte: since } })).deletedCount).toBeGreaterThan(0);
    const count = (name: string) => h.db.collection('programs').countDocuments({ name });
    // Without a programId: its id derives from the key.
    const startedAt = new Date();
    const name = `Keyed ${Math.random().toString(36).slice(2, 10)}`;
    const body = { name, fiscalYear: 'FY27', requiresEligibility: false, payoutRules: RULES };
    const headers = { 'idempotency-key': `program-${name.replace(' ', '-')}` };
    const first = await call(h, 'POST', '/v1/programs', { operator: true, body, headers });
    expect(first.status).toBe(201);
    await forgetAnswers(startedAt);
    const retry = await call(h, 'POST', '/v1/programs', { operator: true, body, headers });
    expect(retry).toMatchObject({ status: 201, body: { programId: first.body.programId, name, revision: 1 } });
    expect(await count(name)).toBe(1);
    // Another request under the key, its answer gone: 422, nothing written.
    await forgetAnswers(startedAt);
    const other = await call(h, 'POST', '/v1/programs', { operator: true, body: { ...body, name: `${name} 2` }, headers });
    expectProblem(other, 422);
    expect(await count(`${name} 2`)).toBe(0);
    // With a programId: the same request's retry gets it, another request 409 as without a key.
    const programId = `keyed-${Math.random().toString(36).slice(2, 10)}`;
    const withId = { ...validProgram(programId), name: `${name} id` };
    const idHeaders = { 'idempotency-key': `program-${programId}` };
    expect((await call(h, 'POST', '/v1/programs', { operator: true, body: withId, headers: idHeaders })).status).toBe(201);
    await forgetAnswers(startedAt);
    expect(await call(h, 'POST', '/v1/programs', { operator: true, body: withId, headers: idHeaders })).toMatchObject({ status: 201, body: { programId } });
    expectProblem(await call(h, 'POST', '/v1/programs', { operator: true, body: { ...withId, name: 'Someone else' }, headers: { 'idempotency-key': `other-${programId}` } }), 409);
    expect((await h.db.collection('programs').findOne({ _id: programId } as never))?.name).toBe(`${name} id`);
  });

  it('refuses a duplicate id, malformed JSON, and PATCHes without a good If-Match or with nothing to change', async () => {
    const program = await createProgram(h);
    const duplicate = await call(h, 'POST', '/v1/programs', { operator: true, body: validProgram(program.programId) });
    expectProblem(duplicate, 409);
    expect(duplicate.body.errors).toEqual([expect.objectContaining({ field: 'programId' })]);
    expectProblem(await call(h, 'POST', '/v1/programs', { operator: true, body: '{"name": ', headers: { 'content-type': 'application/json' } }), 400);
    const path = `/v1/programs/${program.programId}`;
    expectProblem(await call(h, 'PATCH', path, { operator: true, body: { name: 'x' } }), 428);
    expectProblem(await call(h, 'PATCH', path, { operator: true, body: { name: 'x' }, headers: { 'if-match': 'W/"x"' } }), 400);
    const stale = await call(h, 'PATCH', path, { operator: true, body: { name: 'x' }, headers: { 'if-match': '"7"' } });
    expectProblem(stale, 412);
    expect(stale.body.currentVersion).toBe(1);
    expectProblem(await call(h, 'PATCH', path, { operator: true, body: {}, headers: { 'if-match': '"1"' } }), 400);
    expectProblem(await call(h, 'PATCH', path, { operator: true, body: { programId: 'other' }, headers: { 'if-match': '"1"' } }), 400);
    expectProblem(await call(h, 'PATCH', '/v1/programs/none-such', { operator: true, body: { name: 'x' }, headers: { 'if-match': '"1"' } }), 404);
    // null for a field (not "leave it"), or a list for the payout rules: 400 naming the field, not a 500.
    for (const [change, field] of [
      [{ name: null }, 'name'],
      [{ payoutRules: null }, 'payoutRules'],
      [{ payoutRules: [] }, 'payoutRules'],
      [{ state: null }, 'state'],
      [{ fiscalYear: null }, 'fiscalYear'],
      [{ requiresEligibility: null }, 'requiresEligibility'],
    ] as const) {
      const refused = await call(h, 'PATCH', path, { operator: true, body: change, headers: { 'if-match': '"1"' } });
      expectProblem(refused, 400);
      expect(fields(refused.body)).toContain(field);
    }
    const read = await call(h, 'GET', path, { token: await w.token('admin') });
    expect(read.body).toEqual(expect.objectContaining({ revision: 1, name: program.name }));
    // The same values again: no new revision.
    const same = await call(h, 'PATCH', path, { operator: true, body: { name: program.name, state: 'OPEN' }, headers: { 'if-match': '"1"' } });
    expect(same.body.revision).toBe(1);
  });

  it('refuses to move a program back to an earlier fiscal year (409, nothing changed or published); forward it moves', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY30' });
    const path = `/v1/programs/${program.programId}`;
    const back = await call(h, 'PATCH', path, { operator: true, body: { fiscalYear: 'FY29', name: 'Moved back' }, headers: { 'if-match': '"1"' } });
    expectProblem(back, 409);
    expect(back.body).toMatchObject({ fiscalYear: 'FY30', requestedFiscalYear: 'FY29' });
    expect(await h.db.collection('programs').findOne({ _id: program.programId } as never)).toMatchObject({ fiscalYear: 'FY30', name: program.name, revision: 1 });
    // Further than the year after (FY72 typed for FY27): 400 naming fiscalYear, as nothing could move it back.
    const leap = await call(h, 'PATCH', path, { operator: true, body: { fiscalYear: 'FY73' }, headers: { 'if-match': '"1"' } });
    expectProblem(leap, 400);
    expect(leap.body.errors).toEqual([expect.objectContaining({ field: 'fiscalYear', message: expect.stringMatching(/^must be at most FY31 /) })]);
    expect(await h.db.collection('programs').findOne({ _id: program.programId } as never)).toMatchObject({ fiscalYear: 'FY30', revision: 1 });
    const forward = await call(h, 'PATCH', path, { operator: true, body: { fiscalYear: 'FY31' }, headers: { 'if-match': '"1"' } });
    expect(forward.body).toMatchObject({ fiscalYear: 'FY31', revision: 2 });
  });
});

describe('enrollments', () => {
  it.each([
    ['no programId', (p: string) => ({ locationId: w.L1 }), 'programId'],
    ['no locationId', (p: string) => ({ programId: p }), 'locationId'],
    ['an unknown field', (p: string) => ({ programId: p, locationId: w.L1, status: 'ENROLLED' }), 'status'],
    ['a number for bankProfileId', (p: string) => ({ programId: p, locationId: w.L1, bankProfileId: 7 }), 'bankProfileId'],
    // Not "the default" (taken as absent, a choice made before was kept): refused, naming the field.
    ['a null bankProfileId', (p: string) => ({ programId: p, locationId: w.L1, bankProfileId: null }), 'bankProfileId'],
    ['a bad location id', (p: string) => ({ programId: p, locationId: '../etc' }), 'locationId'],
  ])('refuses %s, and changes nothing', async (_, body, field) => {
    const program = await createProgram(h, { requiresEligibility: false });
    const answer = await call(h, 'POST', '/v1/enrollments', { token: await w.token('admin'), body: body(program.programId) });
    expectProblem(answer, 400);
    expect(fields(answer.body)).toContain(field);
    const list = await call(h, 'GET', `/v1/enrollments?programId=${program.programId}`, { token: await w.token('admin') });
    expect(list.body.items).toEqual([]);
  });

  it('takes If-Match on Enroll and Continue: a stale version is 412 and changes nothing; the current one goes on', async () => {
    const token = await w.token('admin');
    const program = await createProgram(h, { requiresEligibility: false });
    const body = { programId: program.programId, locationId: w.L1 };
    const enrolled = await call(h, 'POST', '/v1/enrollments', { token, body });
    const { enrollmentId: id, version } = enrolled.body;
    const stale = { 'if-match': `"${version + 1}"` };
    for (const answer of [
      await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token, body: {}, headers: stale }),
      await call(h, 'POST', '/v1/enrollments', { token, body, headers: stale }),
    ]) {
      expectProblem(answer, 412);
      expect(answer.body.currentVersion).toBe(version);
    }
    // No enrollment yet for L3: If-Match names a version that cannot be there.
    expectProblem(await call(h, 'POST', '/v1/enrollments', { token, body: { ...body, locationId: w.L3 }, headers: { 'if-match': '"1"' } }), 412);
    expect((await call(h, 'GET', `/v1/enrollments?programId=${program.programId}&locationId=${w.L3}`, { token })).body.items).toEqual([]);
    expect((await call(h, 'GET', `/v1/enrollments/${id}`, { token })).body.version).toBe(version);
    const current = await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token, body: {}, headers: { 'if-match': `"${version}"` } });
    expect(current.status).toBe(200);
    expect(current.body.enrollmentId).toBe(id);
  });

  it('answers 404 for an unknown program or enrollment, and 400 for bad query, If-Match or rollover input', async () => {
    const token = await w.token('admin');
    expectProblem(await call(h, 'POST', '/v1/enrollments', { token, body: { programId: 'none-such', locationId: w.L1 } }), 404);
    expectProblem(await call(h, 'POST', '/v1/enrollments/none-such/submit', { token }), 404);
    expectProblem(await call(h, 'GET', '/v1/enrollments/none-such', { token }), 404);
    expectProblem(await call(h, 'GET', '/v1/enrollments?status=DONE', { token }), 400);
    expectProblem(await call(h, 'GET', '/v1/enrollments?fiscalYear=2027', { token }), 400);
    // Paging: limit 1 to 1000, and a cursor a page of the list gave.
    for (const [query, field] of [['limit=0', 'limit'], ['limit=1001', 'limit'], ['limit=ten', 'limit'], ['cursor=not-a-cursor', 'cursor'], [`cursor=${Buffer.from('["x"]').toString('base64url')}`, 'cursor']]) {
      for (const path of ['/v1/enrollments', '/v1/programs']) {
        const answer = await call(h, 'GET', `${path}?${query}`, { token });
        expectProblem(answer, 400);
        expect(fields(answer.body)).toEqual([field]);
      }
    }

    const program = await createProgram(h, { requiresEligibility: false });
    const enrolled = await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId: w.L1 } });
    const id = enrolled.body.enrollmentId;
    expectProblem(await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token, headers: { 'if-match': 'latest' } }), 400);
    // Submit takes no body: a field is refused, not ignored (the submitted proposal is the enrollment's).
    const withField = await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token, body: { bankProfileId: 'bp-2' } });
    expectProblem(withField, 400);
    expect(fields(withField.body)).toContain('bankProfileId');
    expectProblem(await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token, body: { bankProfileId: '' } }), 400);
    const nullChoice = await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token, body: { bankProfileId: null } });
    expectProblem(nullChoice, 400);
    expect(fields(nullChoice.body)).toContain('bankProfileId');
    expect((await call(h, 'GET', `/v1/enrollments/${id}`, { token })).body.version).toBe(enrolled.body.version);

    for (const body of [{}, { fromFiscalYear: '2027' }, { fromFiscalYear: 'FY27', limit: 0 }, { fromFiscalYear: 'FY27', extra: true }]) {
      expectProblem(await call(h, 'POST', '/v1/operator/rollover', { operator: true, body }), 400);
    }
    // `null` is no value: refused, not read as absent (`limit: null` used to stop the run at once, 200 `complete: false`).
    for (const field of ['programId', 'limit', 'force', 'endYearNow']) {
      const refused = await call(h, 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: 'FY27', [field]: null } });
      expectProblem(refused, 400);
      expect(fields(refused.body)).toEqual([field]);
    }
    expectProblem(await call(h, 'POST', '/v1/operator/renewal-reminders', { operator: true, body: { fiscalYear: 'next' } }), 400);
    for (const field of ['fiscalYear', 'force']) {
      const refused = await call(h, 'POST', '/v1/operator/renewal-reminders', { operator: true, body: { [field]: null } });
      expectProblem(refused, 400);
      expect(fields(refused.body)).toEqual([field]);
    }

    // One valid change to the same enrollment after the refused requests: with approved profiles, Continue makes it
    // INVITED (EnrollmentStarted, on the same key L1). Once its event is here, so is any event a refused request
    // would have published before it; then the program's events are exactly those of the two valid requests.
    expect(enrolled.body).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', version: 1 }));
    await approvedProfiles(h, w.partnerId, w.L1);
    const continued = await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token, body: {}, headers: { 'if-match': '"1"' } });
    expect(continued.status).toBe(200);
    expect(continued.body).toEqual(expect.objectContaining({ status: 'INVITED', version: 2 }));
    await waitForEnrollmentEvent(h, id, 'EnrollmentStarted', 2);
    const events = h.watch
      .find<{ programId: string; enrollmentId: string; revision: number }>((m) => m.topic === Topics.enrollments && m.envelope?.data.programId === program.programId)
      .map((m) => [m.envelope!.type, m.envelope!.data.enrollmentId, m.envelope!.data.revision]);
    expect(events).toEqual([
      ['EnrollmentStarted', id, 1],
      ['EnrollmentActionRequired', id, 1],
      ['EnrollmentStarted', id, 2],
    ]);
    expect((await call(h, 'GET', `/v1/enrollments/${id}`, { token })).body.version).toBe(2);
  });
});

describe('requests the service does not route', () => {
  it('a method its path does not answer: 405 with Allow, as problem+json', async () => {
    const answer = await call(h, 'DELETE', '/v1/programs', { operator: true });
    expectProblem(answer, 405);
    expect(answer.headers.get('allow')).toBe('GET, HEAD, POST');
  });

  it('a request Node refuses before any route (headers over its limit): 431 as problem+json', async () => {
    const { port } = new URL(h.service.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1');
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      socket.write(`GET /v1/programs HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 431 .*\r\n/);
    expect(answer).toMatch(/content-type: application\/problem\+json/i);
    expect(JSON.parse(answer.split('\r\n\r\n')[1])).toMatchObject({ status: 431 });
  });
});

describe('documentation', () => {
  it('serves the OpenAPI page at /docs and the document at /docs-json', async () => {
    await expect(servedDocs(h.service.url, ['/v1/enrollments', '/v1/enrollments/{enrollmentId}/submit', '/v1/programs', '/v1/operator/rollover'])).resolves.toBeDefined();
  });
});
