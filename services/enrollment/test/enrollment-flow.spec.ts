/**
 * The whole Enroll / Continue / Submit flow over HTTP, with every fact the service needs arriving as events on the
 * real topics (identity, eligibility, payout profiles, invitations), and what it publishes read back from
 * enrollments.events.v1.
 */
import { Clock } from '@lib/platform';
import { DeadLetterHeaders, deadLetterTopic, fiscalYearRange, Topics } from '@lib/contracts';
import { eventually, groupCaughtUp } from '@lib/testing';
import {
  approvedProfiles,
  agreement,
  bankProfile,
  call,
  createProgram,
  CURRENT_FY,
  defaultBankProfile,
  eligibility,
  eligibilityKnown,
  enrollmentEvents,
  enrollmentEventsSettled,
  Harness,
  issueInvitation,
  NEXT_FY,
  profileEvent,
  profileKnown,
  RULES,
  serviceOf,
  storedEnrollment,
  taxProfile,
  waitForEnrollmentEvent,
  withHarness,
  World,
} from './support';
import { watchFromNow } from './kafka-group';
import { enrollmentId } from '../src/common/ids';
import { EnrollmentsRepository } from '../src/enrollments/enrollments.repository';
import { RenameProgramEnrollments } from '../src/enrollments/usecases/rename-program-enrollments.use-case';
import { FollowExpiredTaxProfiles } from '../src/enrollments/usecases/follow-expired-tax-profiles.use-case';
import { EnrollmentsModule } from '../src/enrollments/enrollments.module';
import { ConsumerCatchUp } from '../src/common/consumer-catch-up';
import { RecheckStart } from '../src/enrollments/usecases/recheck-start.use-case';
import { randomUUID } from 'node:crypto';
import { get as httpGet } from 'node:http';

jest.setTimeout(120_000);

let h: Harness;
let w: World;
withHarness((harness, world) => ((h = harness), (w = world)));

const enroll = async (programId: string, locationId: string, extra: Record<string, unknown> = {}, caller: 'admin' | 'adminOfOther' = 'admin') =>
  call(h, 'POST', '/v1/enrollments', { token: await w.token(caller), body: { programId, locationId, ...extra } });
/** A GET with If-None-Match, as a browser revalidates a cached copy. */
function revalidate(url: string, token: string, etag: string): Promise<{ status: number; etag?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpGet(url, { headers: { authorization: `Bearer ${token}`, 'if-none-match': etag } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, etag: response.headers.etag, body }));
    });
    request.on('error', reject);
  });
}

const get = async (enrollmentId: string, caller: 'admin' | 'incentivesUser' | 'companyAdmin' = 'admin') =>
  call(h, 'GET', `/v1/enrollments/${enrollmentId}`, { token: await w.token(caller) });
const submit = async (enrollmentId: string, headers: Record<string, string> = {}) =>
  call(h, 'POST', `/v1/enrollments/${enrollmentId}/submit`, { token: await w.token('admin'), headers });

describe('Enroll, Continue, Submit and validation', () => {
  it('Continue with the missing items, Submit, approved -> ENROLLED, edited -> VALIDATING, rejected -> ACTION_REQUIRED with the reasons', async () => {
    const program = await createProgram(h);
    await eligibility(h, w, program.programId, w.L1, true);
    await eligibilityKnown(h, program.programId, w.L1);

    // No profiles at all: Continue, with what is missing and where to complete it.
    const first = await enroll(program.programId, w.L1);
    expect(first.status).toBe(201);
    expect(first.body).toEqual(
      expect.objectContaining({ status: 'ACTION_REQUIRED', statusLabel: 'Action required', nextAction: 'CONTINUE', fiscalYear: CURRENT_FY, version: 1 }),
    );
    expect(first.body.missing).toEqual(['BANK_PROFILE_MISSING', 'TAX_PROFILE_MISSING']);
    expect(first.body.proposal).toEqual({ bankProfileId: null, taxProfileId: null });
    expect(first.body.completeAt.map((c: { method: string; path: string }) => `${c.method} ${c.path}`)).toEqual([
      'POST /v1/bank-profiles',
      `PUT /v1/locations/${w.L1}/default-bank-profile`,
      `POST /v1/locations/${w.L1}/tax-profile`,
    ]);
    expect(first.body.completeAt[0].href).toBe('http://payout.test/v1/bank-profiles');
    const id = first.body.enrollmentId;
    const [started] = await waitForEnrollmentEvent(h, id, 'EnrollmentStarted');
    expect(started.key).toBe(w.L1);
    const [actionRequired] = await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');
    expect(actionRequired.envelope!.data).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', missing: ['BANK_PROFILE_MISSING', 'TAX_PROFILE_MISSING'], programName: program.name, completed: false, started: true }));

    // Submit now is refused with the missing list; nothing changes.
    const refused = await submit(id);
    expect(refused.status).toBe(422);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(refused.body.missing).toEqual(['BANK_PROFILE_MISSING', 'TAX_PROFILE_MISSING']);
    expect((await get(id)).body.version).toBe(1);

    // The admin creates the profiles (pending validation) and the default: Continue proposes them, next action Submit.
    const bank = bankProfile(w.partnerId);
    const tax = taxProfile(w.partnerId, w.L1);
    await profileEvent(h, 'ProfileCreated', bank);
    await profileEvent(h, 'ProfileSubmittedForValidation', bank);
    await profileEvent(h, 'ProfileCreated', tax);
    await defaultBankProfile(h, w.partnerId, w.L1, bank.profileId);
    const ready = await eventually(async () => {
      const again = await enroll(program.programId, w.L1);
      expect(again.status).toBe(200);
      expect(again.body.nextAction).toBe('SUBMIT');
      return again.body;
    });
    expect(ready).toEqual(expect.objectContaining({ enrollmentId: id, status: 'INVITED', missing: [], completeAt: [] }));
    expect(ready.proposal).toEqual({ bankProfileId: bank.profileId, taxProfileId: tax.profileId });
    await waitForEnrollmentEvent(h, id, 'EnrollmentStarted', 2);
    // Started, waiting for the admin's Submit: in progress for everyone else too.
    expect((await get(id, 'incentivesUser')).body).toEqual(expect.objectContaining({ status: 'INVITED', statusLabel: 'Enrolling', nextAction: null }));

    // A stale If-Match is refused; Submit: VALIDATING (the profiles wait for validation).
    expect((await submit(id, { 'if-match': '"1"' })).status).toBe(412);
    const submitted = await submit(id, { 'if-match': `"${ready.version}"` });
    expect(submitted.status).toBe(200);
    expect(submitted.body).toEqual(expect.objectContaining({ status: 'VALIDATING', statusLabel: 'Validating enrollment', nextAction: null }));
    expect(submitted.headers.get('etag')).toBe(`"${submitted.body.version}"`);
    await waitForEnrollmentEvent(h, id, 'EnrollmentValidating');
    // Submitting again changes nothing.
    expect((await submit(id)).body.version).toBe(submitted.body.version);
    // Everyone else who may look sees the Partner Center wording.
    expect((await get(id, 'incentivesUser')).body).toEqual(expect.objectContaining({ status: 'VALIDATING', statusLabel: 'Enrolling', nextAction: null, completeAt: [] }));
    expect((await get(id, 'companyAdmin')).body.statusLabel).toBe('Enrolling');

    // The bank profile is approved: still validating (the tax profile is not yet).
    await profileEvent(h, 'ProfileApproved', { ...bank, status: 'APPROVED' });
    await profileKnown(h, { ...bank, status: 'APPROVED' });
    expect((await get(id)).body.status).toBe('VALIDATING');
    // The tax profile too: ENROLLED.
    await profileEvent(h, 'ProfileApproved', { ...tax, status: 'APPROVED' });
    await eventually(async () => expect((await get(id)).body.status).toBe('ENROLLED'));
    const [enrolled] = await waitForEnrollmentEvent(h, id, 'EnrollmentEnrolled');
    expect(enrolled.envelope!.data).toEqual(expect.objectContaining({ status: 'ENROLLED', previousStatus: 'VALIDATING', bankProfileId: bank.profileId, taxProfileId: tax.profileId, completed: true }));

    // The bank profile is edited after approval: a new revision pending validation, the enrollment VALIDATING again.
    await profileEvent(h, 'ProfileUpdated', { ...bank, revision: 2, status: 'PENDING_VALIDATION' });
    await eventually(async () => expect((await get(id)).body.status).toBe('VALIDATING'));
    const validatingAgain = await waitForEnrollmentEvent(h, id, 'EnrollmentValidating', 2);
    expect(validatingAgain[1].envelope!.data.previousStatus).toBe('ENROLLED');

    // The new revision is rejected: ACTION_REQUIRED with the validator's reasons, next action Continue.
    await profileEvent(h, 'ProfileActionRequired', { ...bank, revision: 2, status: 'ACTION_REQUIRED', reasons: ['The routing number does not match the bank'] });
    const rejected = await eventually(async () => {
      const answer = await get(id);
      expect(answer.body.status).toBe('ACTION_REQUIRED');
      return answer.body;
    });
    expect(rejected).toEqual(
      expect.objectContaining({
        statusLabel: 'Action required',
        nextAction: 'CONTINUE',
        missing: ['BANK_PROFILE_NOT_APPROVED'],
        reasons: ['Bank profile: The routing number does not match the bank'],
      }),
    );
    expect(rejected.completeAt[0]).toEqual(expect.objectContaining({ method: 'PATCH', path: `/v1/bank-profiles/${bank.profileId}` }));
    const [rejection] = await waitForEnrollmentEvent(h, id, 'EnrollmentRejected');
    expect(rejection.envelope!.data.reasons).toEqual(['Bank profile: The routing number does not match the bank']);
    expect((await get(id, 'incentivesUser')).body.statusLabel).toBe('Enrolling');

    // Corrected and approved: back to VALIDATING, then ENROLLED.
    await profileEvent(h, 'ProfileUpdated', { ...bank, revision: 3, status: 'PENDING_VALIDATION' });
    await waitForEnrollmentEvent(h, id, 'EnrollmentValidating', 3);
    await profileEvent(h, 'ProfileApproved', { ...bank, revision: 3, status: 'APPROVED' });
    await eventually(async () => expect((await get(id)).body.status).toBe('ENROLLED'));
    await waitForEnrollmentEvent(h, id, 'EnrollmentEnrolled', 2);

    // A late duplicate of an old event changes nothing.
    const before = (await get(id)).body.version;
    await profileEvent(h, 'ProfileActionRequired', { ...bank, revision: 2, status: 'ACTION_REQUIRED', reasons: ['old'] });
    await profileEvent(h, 'ProfileApproved', { ...tax, status: 'APPROVED' });
    // The two are on different keys (bank: the partner; tax: the location): a later event on each key, once known to
    // the service, says the duplicate before it on that partition was handled.
    const bankSentinel = bankProfile(w.partnerId, { status: 'APPROVED' });
    const taxSentinel = taxProfile(w.partnerId, w.L1, { status: 'APPROVED' });
    await profileEvent(h, 'ProfileApproved', bankSentinel);
    await profileEvent(h, 'ProfileApproved', taxSentinel);
    await profileKnown(h, bankSentinel);
    await profileKnown(h, taxSentinel);
    expect((await get(id)).body).toEqual(expect.objectContaining({ status: 'ENROLLED', version: before }));

    // The tax profile is edited after approval (SPEC 1, Enrollment 5): VALIDATING again, ENROLLED once it is approved.
    await profileEvent(h, 'ProfileUpdated', { ...tax, revision: 2, status: 'PENDING_VALIDATION' });
    const [, , , taxEdited] = await waitForEnrollmentEvent(h, id, 'EnrollmentValidating', 4);
    // Sent back to validation, still completed in its year (the rollover continues it).
    expect(taxEdited.envelope!.data).toEqual(expect.objectContaining({ status: 'VALIDATING', previousStatus: 'ENROLLED', taxProfileId: tax.profileId, completed: true }));
    expect((await get(id)).body.status).toBe('VALIDATING');
    await profileEvent(h, 'ProfileApproved', { ...tax, revision: 2, status: 'APPROVED' });
    await waitForEnrollmentEvent(h, id, 'EnrollmentEnrolled', 3);
    expect((await get(id)).body.status).toBe('ENROLLED');

    // Every event of the enrollment has a distinct id and increasing revisions.
    const events = enrollmentEvents(h, id);
    expect(new Set(events.map((e) => e.envelope!.eventId)).size).toBe(events.length);
  });

  // SPEC 1, Enrollment 4 and 5: ENROLLED only once the chosen bank and tax profiles are validated, and an edited one
  // sends it back to VALIDATING. A program that requires no tax profile does not ask for one; the one Enroll proposes
  // (the location's) is used all the same, so it must pass validation too.
  it("follows the validation of the tax profile it uses where the program requires none: rejected -> Continue; approved -> ENROLLED; edited -> VALIDATING", async () => {
    const program = await createProgram(h, { requiresEligibility: false, payoutRules: { ...RULES, taxProfileRequired: false } });
    const { tax } = await approvedProfiles(h, w.partnerId, w.L3);
    await profileEvent(h, 'ProfileActionRequired', { ...tax, revision: 2, status: 'ACTION_REQUIRED', reasons: ['The TIN does not match the legal name'] });
    await profileKnown(h, { ...tax, revision: 2, status: 'ACTION_REQUIRED', reasons: ['The TIN does not match the legal name'] });

    const proposed = await enroll(program.programId, w.L3);
    expect(proposed.body).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', nextAction: 'CONTINUE', missing: ['TAX_PROFILE_NOT_APPROVED'] }));
    expect(proposed.body.proposal.taxProfileId).toBe(tax.profileId);
    expect(proposed.body.completeAt.map((c: { method: string; path: string }) => `${c.method} ${c.path}`)).toEqual([`PATCH /v1/locations/${w.L3}/tax-profile`]);
    const id = proposed.body.enrollmentId;
    expect((await submit(id)).status).toBe(422);

    // Corrected: pending validation, Submit waits for it (VALIDATING), ENROLLED once it is approved.
    await profileEvent(h, 'ProfileUpdated', { ...tax, revision: 3, status: 'PENDING_VALIDATION' });
    const ready = await eventually(async () => {
      const again = await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token: await w.token('admin'), body: {} });
      expect(again.body.nextAction).toBe('SUBMIT');
      return again.body;
    });
    expect(ready.missing).toEqual([]);
    expect((await submit(id)).body.status).toBe('VALIDATING');
    await profileEvent(h, 'ProfileApproved', { ...tax, revision: 3, status: 'APPROVED' });
    await eventually(async () => expect((await get(id)).body.status).toBe('ENROLLED'));
    const [enrolled] = await waitForEnrollmentEvent(h, id, 'EnrollmentEnrolled');
    expect(enrolled.envelope!.data).toEqual(expect.objectContaining({ taxProfileId: tax.profileId }));

    // Edited after approval: VALIDATING again.
    await profileEvent(h, 'ProfileUpdated', { ...tax, revision: 4, status: 'PENDING_VALIDATION' });
    await eventually(async () => expect((await get(id)).body.status).toBe('VALIDATING'));
    const validating = await waitForEnrollmentEvent(h, id, 'EnrollmentValidating', 2);
    expect(validating[1].envelope!.data.previousStatus).toBe('ENROLLED');
  });

  // The answer under an Idempotency-Key is stored after the write: a crash (or a failed store) in between left the retry
  // of an Enroll with If-Match to meet its own write, and answer 412 (stored, for every later retry too).
  it("gives the retry of an Enroll with If-Match whose answer is gone what its own write made, not 412; another request's If-Match is still checked", async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    // L2's default bank profile, no tax profile (a later test needs L2 without one).
    const defaultBank = bankProfile(w.partnerId, { status: 'APPROVED' });
    await profileEvent(h, 'ProfileApproved', defaultBank);
    await profileKnown(h, defaultBank);
    await defaultBankProfile(h, w.partnerId, w.L2, defaultBank.profileId);
    await eventually(async () => expect((await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').findOne({ _id: w.L2 }))?.bankProfileId).toBe(defaultBank.profileId));
    const other = bankProfile(w.partnerId, { status: 'APPROVED', name: 'Second account' });
    await profileEvent(h, 'ProfileApproved', other);
    await profileKnown(h, other);
    const token = await w.token('adminOfOther'); // the Incentives admin of L2
    // If-Match before there is an enrollment: 412 saying there is none (currentVersion 0), as every 412 says its version.
    const early = await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId: w.L2 }, headers: { 'if-match': '"1"' } });
    expect(early).toMatchObject({ status: 412, body: { currentVersion: 0 } });
    const since = new Date();
    const forgetAnswers = async () => expect((await h.db.collection('idempotency_keys').deleteMany({ createdAt: { $gte: since } })).deletedCount).toBeGreaterThan(0);
    // The version it names, sent back: none, so it starts it.
    const start = () =>
      call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId: w.L2 }, headers: { 'if-match': '"0"', 'idempotency-key': `start-${w.run}` } });
    const started = await start();
    expect(started.status).toBe(201);
    const read = started.body.version;
    // Its retry, the answer gone: the enrollment it started (no longer "none", but this request's own write), not 412;
    // answered as first (201: it started it), not as an enrollment found as it is (200).
    await forgetAnswers();
    expect(await start()).toMatchObject({ status: 201, body: { enrollmentId: started.body.enrollmentId, version: read } });
    const choose = (key: string | undefined, ifMatch: number, bankProfileId = other.profileId) =>
      call(h, 'POST', '/v1/enrollments', {
        token,
        body: { programId: program.programId, locationId: w.L2, bankProfileId },
        headers: { 'if-match': `"${ifMatch}"`, ...(key && { 'idempotency-key': key }) },
      });

    const first = await choose(`choice-${w.run}-1`, read);
    expect(first).toMatchObject({ status: 200, body: { version: read + 1, proposal: { bankProfileId: other.profileId } } });
    await forgetAnswers();
    const retry = await choose(`choice-${w.run}-1`, read);
    expect(retry).toMatchObject({ status: 200, body: { enrollmentId: first.body.enrollmentId, version: read + 1, proposal: { bankProfileId: other.profileId } } });
    // Another request naming the version it read before that write: 412, as always.
    const stale = (answer: { status: number; body: any }) => expect(answer).toMatchObject({ status: 412, body: { currentVersion: read + 1 } });
    stale(await choose(`choice-${w.run}-2`, read));
    stale(await choose(undefined, read));
    // A write by another request since (Continue choosing the default, without a key): the first one's retry no longer
    // meets its own write, and its If-Match is checked again.
    const back = await call(h, 'POST', `/v1/enrollments/${first.body.enrollmentId}/refresh`, { token, body: { bankProfileId: defaultBank.profileId }, headers: { 'if-match': `"${read + 1}"` } });
    expect(back).toMatchObject({ status: 200, body: { version: read + 2, proposal: { bankProfileId: defaultBank.profileId } } });
    await forgetAnswers();
    expect(await choose(`choice-${w.run}-1`, read)).toMatchObject({ status: 412, body: { currentVersion: read + 2 } });
  });

  it('lets the admin choose another bank profile of the partner, which sticks; approved profiles enroll at Submit', async () => {
    const program = await createProgram(h);
    await eligibility(h, w, program.programId, w.L3, true);
    await eligibilityKnown(h, program.programId, w.L3);
    const { bank: defaultBank } = await approvedProfiles(h, w.partnerId, w.L3);
    const other = bankProfile(w.partnerId, { status: 'APPROVED', currency: 'EUR', name: 'EUR account' });
    await profileEvent(h, 'ProfileApproved', other);
    await profileKnown(h, other);

    const proposed = await enroll(program.programId, w.L3);
    expect(proposed.body.proposal.bankProfileId).toBe(defaultBank.profileId);
    const chosen = await enroll(program.programId, w.L3, { bankProfileId: other.profileId });
    expect(chosen.status).toBe(200);
    expect(chosen.body).toEqual(expect.objectContaining({ nextAction: 'SUBMIT', status: 'INVITED' }));
    expect(chosen.body.proposal.bankProfileId).toBe(other.profileId);
    // Continue without a choice keeps it.
    const again = await call(h, 'POST', `/v1/enrollments/${chosen.body.enrollmentId}/refresh`, { token: await w.token('admin'), body: {} });
    expect(again.body.proposal.bankProfileId).toBe(other.profileId);

    // Another partner's bank profile, or an unknown one, is refused and changes nothing.
    const foreign = bankProfile(w.otherPartnerId, { status: 'APPROVED' });
    await profileEvent(h, 'ProfileApproved', foreign);
    await profileKnown(h, foreign);
    for (const bankProfileId of [foreign.profileId, 'no-such-profile']) {
      const refused = await enroll(program.programId, w.L3, { bankProfileId });
      expect(refused.status).toBe(400);
      expect(refused.body.errors[0].field).toBe('bankProfileId');
    }
    expect((await get(chosen.body.enrollmentId)).body.version).toBe(again.body.version);

    // Both profiles approved already: Submit enrolls at once.
    const submitted = await submit(chosen.body.enrollmentId);
    expect(submitted.body).toEqual(expect.objectContaining({ status: 'ENROLLED', statusLabel: 'Enrolled' }));
    const [enrolled] = await waitForEnrollmentEvent(h, chosen.body.enrollmentId, 'EnrollmentEnrolled');
    expect(enrolled.envelope!.data).toEqual(expect.objectContaining({ bankProfileId: other.profileId, previousStatus: 'INVITED' }));
    expect(enrollmentEvents(h, chosen.body.enrollmentId).map((e) => e.envelope!.type)).not.toContain('EnrollmentValidating');
  });

  it("refuses to submit a proposal whose default bank profile changed since it was shown (409 proposal-changed, unchanged); Continue shows the new one, then Submit sends it", async () => {
    const program = await createProgram(h);
    await eligibility(h, w, program.programId, w.L3, true);
    await eligibilityKnown(h, program.programId, w.L3);
    const { bank: first } = await approvedProfiles(h, w.partnerId, w.L3);
    const proposed = await enroll(program.programId, w.L3);
    expect(proposed.body).toEqual(expect.objectContaining({ nextAction: 'SUBMIT', proposal: expect.objectContaining({ bankProfileId: first.profileId }) }));
    const id = proposed.body.enrollmentId;

    // Another admin makes another bank profile the location's default (payout-profiles); the enrollment is unchanged.
    const second = bankProfile(w.partnerId, { status: 'APPROVED', name: `Second ${randomUUID().slice(0, 6)}` });
    await profileEvent(h, 'ProfileApproved', second);
    await profileKnown(h, second);
    await defaultBankProfile(h, w.partnerId, w.L3, second.profileId);
    await eventually(async () => expect((await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').findOne({ _id: w.L3 }))?.bankProfileId).toBe(second.profileId));

    const refused = await submit(id);
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual(expect.objectContaining({ type: expect.stringMatching(/\/proposal-changed$/), proposed: expect.objectContaining({ bankProfileId: first.profileId }), now: expect.objectContaining({ bankProfileId: second.profileId }) }));
    expect((await get(id)).body).toEqual(expect.objectContaining({ status: 'INVITED', version: proposed.body.version }));

    const continued = await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token: await w.token('admin'), body: {} });
    expect(continued.body.proposal.bankProfileId).toBe(second.profileId);
    const submitted = await submit(id);
    expect(submitted.body).toEqual(expect.objectContaining({ status: 'ENROLLED', proposal: expect.objectContaining({ bankProfileId: second.profileId }) }));

    // A default the proposal said falls short (its currency not allowed): replacing it is what Continue asked for, and
    // Submit takes the new default as it is.
    const other = await createProgram(h);
    await eligibility(h, w, other.programId, w.L3, true);
    await eligibilityKnown(h, other.programId, w.L3);
    const pounds = bankProfile(w.partnerId, { status: 'APPROVED', currency: 'GBP', name: `GBP ${randomUUID().slice(0, 6)}` });
    await profileEvent(h, 'ProfileApproved', pounds);
    await profileKnown(h, pounds);
    await defaultBankProfile(h, w.partnerId, w.L3, pounds.profileId, 'GBP');
    await eventually(async () => expect((await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').findOne({ _id: w.L3 }))?.bankProfileId).toBe(pounds.profileId));
    const short = await enroll(other.programId, w.L3);
    expect(short.body).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', missing: ['CURRENCY_NOT_ALLOWED'] }));
    await defaultBankProfile(h, w.partnerId, w.L3, second.profileId);
    await eventually(async () => expect((await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').findOne({ _id: w.L3 }))?.bankProfileId).toBe(second.profileId));
    const fixed = await submit(short.body.enrollmentId);
    expect(fixed.status).toBe(200);
    expect(fixed.body).toEqual(expect.objectContaining({ status: 'ENROLLED', proposal: expect.objectContaining({ bankProfileId: second.profileId }) }));
  });

  // Submit sends the location's tax profile whenever there is one: one that came after the proposal showed none (its
  // program requiring none) would make the enrollment wait for its validation, or be refused if it is rejected.
  it("refuses to submit a proposal that showed no tax profile once the location has one (409 proposal-changed, unchanged); Continue shows it, then Submit sends it", async () => {
    const program = await createProgram(h, { payoutRules: { ...RULES, taxProfileRequired: false } });
    await eligibility(h, w, program.programId, w.L2, true);
    await eligibilityKnown(h, program.programId, w.L2);
    const bank = bankProfile(w.partnerId, { status: 'APPROVED' });
    await profileEvent(h, 'ProfileApproved', bank);
    await profileKnown(h, bank);
    await defaultBankProfile(h, w.partnerId, w.L2, bank.profileId);
    await eventually(async () => expect((await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').findOne({ _id: w.L2 }))?.bankProfileId).toBe(bank.profileId));
    const proposed = await enroll(program.programId, w.L2, {}, 'adminOfOther');
    expect(proposed.body).toEqual(expect.objectContaining({ nextAction: 'SUBMIT', missing: [], proposal: { bankProfileId: bank.profileId, taxProfileId: null } }));
    const id = proposed.body.enrollmentId;

    const tax = taxProfile(w.partnerId, w.L2, { status: 'PENDING_VALIDATION' });
    await profileEvent(h, 'ProfileCreated', tax);
    await profileKnown(h, tax);
    const other = async (path: string) => call(h, 'POST', `/v1/enrollments/${id}/${path}`, { token: await w.token('adminOfOther'), body: {} });
    const refused = await other('submit');
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual(
      expect.objectContaining({ type: expect.stringMatching(/\/proposal-changed$/), proposed: { bankProfileId: bank.profileId, taxProfileId: null }, now: { bankProfileId: bank.profileId, taxProfileId: tax.profileId } }),
    );
    expect((await get(id, 'companyAdmin')).body).toEqual(expect.objectContaining({ status: 'INVITED', version: proposed.body.version }));

    expect((await other('refresh')).body.proposal).toEqual({ bankProfileId: bank.profileId, taxProfileId: tax.profileId });
    expect((await other('submit')).body).toEqual(expect.objectContaining({ status: 'VALIDATING', proposal: { bankProfileId: bank.profileId, taxProfileId: tax.profileId } }));
  });

  it('follows the profiles a proposal proposes before Submit: rejected -> ACTION_REQUIRED (Continue, with the event); corrected -> INVITED (Submit); a proposal the default replaced is left to its admin', async () => {
    const program = await createProgram(h);
    await eligibility(h, w, program.programId, w.L3, true);
    await eligibilityKnown(h, program.programId, w.L3);
    const { bank } = await approvedProfiles(h, w.partnerId, w.L3);
    const pending = { ...bank, revision: 2, status: 'PENDING_VALIDATION' as const };
    await profileEvent(h, 'ProfileUpdated', pending);
    await profileKnown(h, pending);
    const proposed = await enroll(program.programId, w.L3);
    expect(proposed.body).toEqual(expect.objectContaining({ status: 'INVITED', nextAction: 'SUBMIT', missing: [], proposal: expect.objectContaining({ bankProfileId: bank.profileId }) }));
    const id = proposed.body.enrollmentId;

    // The back office rejects the proposed bank profile: the proposal now falls short, as Continue would find.
    await profileEvent(h, 'ProfileActionRequired', { ...bank, revision: 2, status: 'ACTION_REQUIRED', reasons: ['The account holder does not match'] });
    await eventually(async () =>
      expect((await get(id)).body).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', nextAction: 'CONTINUE', missing: ['BANK_PROFILE_NOT_APPROVED'] })),
    );
    const [actionRequired] = await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');
    expect(actionRequired.envelope!.data).toEqual(expect.objectContaining({ previousStatus: 'INVITED', missing: ['BANK_PROFILE_NOT_APPROVED'] }));

    // Corrected (pending validation again): complete, next action Submit.
    await profileEvent(h, 'ProfileUpdated', { ...bank, revision: 3, status: 'PENDING_VALIDATION' });
    await eventually(async () => expect((await get(id)).body).toEqual(expect.objectContaining({ status: 'INVITED', nextAction: 'SUBMIT', missing: [] })));

    // Another default for the location, then the proposed profile rejected again: the proposal would change, so it is
    // left as it is for its admin (Submit refuses it with proposal-changed until Continue shows the new one).
    const second = bankProfile(w.partnerId, { status: 'APPROVED', name: `Second ${randomUUID().slice(0, 6)}` });
    await profileEvent(h, 'ProfileApproved', second);
    await profileKnown(h, second);
    await defaultBankProfile(h, w.partnerId, w.L3, second.profileId);
    await eventually(async () => expect((await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').findOne({ _id: w.L3 }))?.bankProfileId).toBe(second.profileId));
    const before = (await get(id)).body;
    const rejectedAgain = { ...bank, revision: 3, status: 'ACTION_REQUIRED' as const, reasons: ['Still not matching'] };
    await profileEvent(h, 'ProfileActionRequired', rejectedAgain);
    await profileKnown(h, rejectedAgain);
    // A marker on the same key (the partner's: same partition, handled after it): once it is in the view, the
    // rejection was handled to its end.
    const marker = bankProfile(w.partnerId, { name: `Marker ${randomUUID().slice(0, 6)}` });
    await profileEvent(h, 'ProfileCreated', marker);
    await profileKnown(h, marker);
    expect((await get(id)).body).toEqual(expect.objectContaining({ status: 'INVITED', version: before.version, proposal: expect.objectContaining({ bankProfileId: bank.profileId }) }));
    expect((await submit(id)).body.type).toMatch(/\/proposal-changed$/);
  });

  it('refuses a bank profile that does not serve the location (400 on bankProfileId, unchanged); accepts it once its locationIds name the location, and one serving every location', async () => {
    const program = await createProgram(h);
    await eligibility(h, w, program.programId, w.L3, true);
    await eligibilityKnown(h, program.programId, w.L3);
    const { bank: defaultBank } = await approvedProfiles(h, w.partnerId, w.L3);
    // Another location's profile: L1's admins keep L1's incentives on it; L3's enrollment may not choose it.
    const ofL1 = bankProfile(w.partnerId, { status: 'APPROVED', currency: 'EUR', name: 'L1 EUR account', locationIds: [w.L1], version: 2 });
    await profileEvent(h, 'ProfileApproved', ofL1);
    await profileKnown(h, ofL1);

    const proposed = await enroll(program.programId, w.L3);
    expect(proposed.status).toBe(201);
    expect(proposed.body.proposal.bankProfileId).toBe(defaultBank.profileId);
    const id = proposed.body.enrollmentId;
    const refusals = [
      await enroll(program.programId, w.L3, { bankProfileId: ofL1.profileId }),
      await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token: await w.token('admin'), body: { bankProfileId: ofL1.profileId } }),
    ];
    for (const refused of refusals) {
      expect(refused.status).toBe(400);
      expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(refused.body.errors).toEqual([{ field: 'bankProfileId', message: expect.stringContaining(`must be a bank profile that serves location ${w.L3} (`) }]);
      expect(JSON.stringify(refused.body)).not.toContain(w.L1); // which locations it serves is payout-profiles' to tell
    }
    expect((await get(id)).body).toEqual(expect.objectContaining({ version: proposed.body.version, proposal: expect.objectContaining({ bankProfileId: defaultBank.profileId }) }));

    // Its admins add L3: the same revision and status at a later version of the profile (no new validation).
    await profileEvent(h, 'ProfileUpdated', { ...ofL1, locationIds: [w.L1, w.L3], version: 3 });
    const viewOf = (profileId: string) => h.db.collection<{ _id: string; locationIds?: string[] | null }>('profile_view').findOne({ _id: profileId });
    await eventually(async () => expect((await viewOf(ofL1.profileId))?.locationIds).toEqual([w.L1, w.L3]));
    // The older event delivered again changes nothing (a later profile event on the same key is the sentinel).
    await profileEvent(h, 'ProfileApproved', ofL1);
    const marker = bankProfile(w.partnerId, { status: 'APPROVED' });
    await profileEvent(h, 'ProfileApproved', marker);
    await profileKnown(h, marker);
    expect((await viewOf(ofL1.profileId))?.locationIds).toEqual([w.L1, w.L3]);
    const chosen = await enroll(program.programId, w.L3, { bankProfileId: ofL1.profileId });
    expect(chosen.status).toBe(200);
    expect(chosen.body.proposal.bankProfileId).toBe(ofL1.profileId);

    // '*' serves every location; the marker, published without locationIds (as before payout-profiles had them), too.
    const everywhere = bankProfile(w.partnerId, { status: 'APPROVED', locationIds: ['*'], version: 2 });
    await profileEvent(h, 'ProfileApproved', everywhere);
    await profileKnown(h, everywhere);
    for (const bankProfileId of [everywhere.profileId, marker.profileId]) {
      const answer = await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token: await w.token('admin'), body: { bankProfileId } });
      expect(answer.status).toBe(200);
      expect(answer.body.proposal.bankProfileId).toBe(bankProfileId);
    }

    // Submitted: its bank profile can change only while it is Action required, which is said first, not that a
    // profile the admin would widen for it does not serve the location (it could not be taken after that either).
    const submitted = await submit(id);
    expect(submitted.body.status).toMatch(/^(VALIDATING|ENROLLED)$/);
    const onlyL1 = bankProfile(w.partnerId, { status: 'APPROVED', locationIds: [w.L1], version: 2 });
    await profileEvent(h, 'ProfileApproved', onlyL1);
    await profileKnown(h, onlyL1);
    const fixed = await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token: await w.token('admin'), body: { bankProfileId: onlyL1.profileId } });
    expect(fixed.status).toBe(409);
    expect(fixed.body).toEqual(expect.objectContaining({ detail: expect.stringContaining('can change only while it is Action required'), enrollmentStatus: submitted.body.status }));
  });

  it("starts and submits no enrollment while the partner's agreement is not active (422 agreement-inactive, unchanged), as the rollover continues none", async () => {
    const open = await createProgram(h, { requiresEligibility: false });
    const started = await enroll(open.programId, w.L3);
    expect(started.status).toBe(201);
    try {
      await agreement(h, w.partnerId, false);
      await eventually(async () => expect((await enroll(open.programId, w.L1)).body.type).toMatch(/\/agreement-inactive$/));
      // Nothing offered that would be refused.
      const shown = await call(h, 'GET', `/v1/enrollments/${started.body.enrollmentId}`, { token: await w.token('admin') });
      expect(shown.body).toMatchObject({ nextAction: null });
      const refused = await submit(started.body.enrollmentId);
      expect(refused.status).toBe(422);
      expect(refused.body.type).toMatch(/\/agreement-inactive$/);
      const stored = (id: string) => h.db.collection<{ _id: string; version: number }>('enrollments').findOne({ _id: id });
      expect((await stored(started.body.enrollmentId))?.version).toBe(started.body.version);
      expect(await stored(enrollmentId({ programId: open.programId, locationId: w.L1, fiscalYear: open.fiscalYear }))).toBeNull();
    } finally {
      await agreement(h, w.partnerId, true);
    }
    await eventually(async () => expect((await enroll(open.programId, w.L1)).status).toBe(201));
  });

  it('enrolls only an eligible location (or for an open program), and enrolling twice returns the same enrollment', async () => {
    const program = await createProgram(h);
    const notEligible = await enroll(program.programId, w.L1);
    expect(notEligible.status).toBe(422);
    expect(notEligible.body.type).toMatch(/location-not-eligible$/);
    await eligibility(h, w, program.programId, w.L1, false, CURRENT_FY, ['Revenue threshold not met']);
    await eligibilityKnown(h, program.programId, w.L1, CURRENT_FY, false);
    expect((await enroll(program.programId, w.L1)).body.reasons).toEqual(['Revenue threshold not met']);

    const open = await createProgram(h, { requiresEligibility: false });
    const first = await enroll(open.programId, w.L1);
    const second = await enroll(open.programId, w.L1);
    expect([first.status, second.status]).toEqual([201, 200]);
    expect(second.body.enrollmentId).toBe(first.body.enrollmentId);
    expect(second.body.version).toBe(first.body.version);
    const list = await call(h, 'GET', `/v1/enrollments?locationId=${w.L1}&programId=${open.programId}`, { token: await w.token('admin') });
    expect(list.body.items.map((e: { enrollmentId: string }) => e.enrollmentId)).toEqual([first.body.enrollmentId]);

    // With an Idempotency-Key, a retried request gets the first answer.
    const keyed = { 'idempotency-key': `k-${w.run}` };
    const byKey = await call(h, 'POST', '/v1/enrollments', { token: await w.token('admin'), body: { programId: open.programId, locationId: w.L3 }, headers: keyed });
    const replay = await call(h, 'POST', '/v1/enrollments', { token: await w.token('admin'), body: { programId: open.programId, locationId: w.L3 }, headers: keyed });
    expect(replay.status).toBe(byKey.status);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(byKey.body);
  });

  it('lists enrollments and programs a page at a time: every item once, in order, the last page without nextCursor', async () => {
    const token = await w.token('admin');
    const programs = [await createProgram(h, { requiresEligibility: false }), await createProgram(h, { requiresEligibility: false }), await createProgram(h, { requiresEligibility: false })];
    const ours: string[] = [];
    for (const program of programs) {
      for (const locationId of [w.L3, w.L1]) ours.push((await enroll(program.programId, locationId)).body.enrollmentId);
    }
    const walk = async (path: string, limit: number, key: (item: any) => string) => {
      const seen: any[] = [];
      let after: string | undefined;
      let pages = 0;
      do {
        const page = await call(h, 'GET', `${path}${path.includes('?') ? '&' : '?'}limit=${limit}${after ? `&cursor=${after}` : ''}`, { token });
        expect(page.status).toBe(200);
        expect(page.body.items.length).toBeLessThanOrEqual(limit);
        if (page.body.nextCursor) expect(page.body.items).toHaveLength(limit);
        seen.push(...page.body.items);
        after = page.body.nextCursor;
        pages++;
      } while (after);
      const whole = await call(h, 'GET', `${path}${path.includes('?') ? '&' : '?'}limit=1000`, { token });
      expect(whole.body.nextCursor).toBeUndefined();
      expect(seen.map(key)).toEqual(whole.body.items.map(key));
      expect(new Set(seen.map(key)).size).toBe(seen.length);
      return { seen, pages };
    };

    const enrollments = await walk('/v1/enrollments', 4, (e) => e.enrollmentId);
    expect(enrollments.pages).toBeGreaterThanOrEqual(2);
    expect(enrollments.seen.map((e) => e.enrollmentId)).toEqual(expect.arrayContaining(ours));
    const order = (e: any) => [e.locationId, e.programId, e.fiscalYear, e.enrollmentId].join('\u0000');
    expect(enrollments.seen.map(order)).toEqual([...enrollments.seen.map(order)].sort());
    // Filters and paging together: one location's page of two, then the rest.
    const first = await call(h, 'GET', `/v1/enrollments?locationId=${w.L3}&limit=2`, { token });
    const rest = await call(h, 'GET', `/v1/enrollments?locationId=${w.L3}&limit=1000&cursor=${first.body.nextCursor}`, { token });
    expect([...first.body.items, ...rest.body.items].every((e: any) => e.locationId === w.L3)).toBe(true);
    expect([...first.body.items, ...rest.body.items].map((e: any) => e.enrollmentId)).toEqual(
      expect.arrayContaining(ours.filter((_, i) => i % 2 === 0)),
    );

    const catalog = await walk('/v1/programs', 2, (p) => p.programId);
    expect(catalog.pages).toBeGreaterThanOrEqual(2);
    expect(catalog.seen.map((p) => p.programId)).toEqual(expect.arrayContaining(programs.map((p) => p.programId)));
    const byName = catalog.seen.map((p) => `${p.name}\u0000${p.programId}`);
    expect(byName).toEqual([...byName].sort());
  });

  it('refuses to start an invited enrollment of a year its program moved away from (409, unchanged), and offers no Enroll on it', async () => {
    const program = await createProgram(h);
    await eligibility(h, w, program.programId, w.L1, true);
    await eligibilityKnown(h, program.programId, w.L1);
    await issueInvitation(h, w, program, w.L1, `inv-moved-${w.run}`);
    const invited = await eventually(async () => {
      const list = await call(h, 'GET', `/v1/enrollments?programId=${program.programId}`, { token: await w.token('admin') });
      expect(list.body.items).toHaveLength(1);
      return list.body.items[0];
    });
    expect(invited).toEqual(expect.objectContaining({ status: 'INVITED', fiscalYear: CURRENT_FY, nextAction: 'ENROLL' }));
    const moved = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { fiscalYear: NEXT_FY }, headers: { 'if-match': `"${program.revision}"` } });
    expect(moved.status).toBe(200);

    const refused = await call(h, 'POST', `/v1/enrollments/${invited.enrollmentId}/refresh`, { token: await w.token('admin'), body: {} });
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual(expect.objectContaining({ enrollmentStatus: 'INVITED', fiscalYear: CURRENT_FY, programFiscalYear: NEXT_FY }));
    expect((await get(invited.enrollmentId)).body).toEqual(expect.objectContaining({ status: 'INVITED', version: invited.version, nextAction: null }));
    await enrollmentEventsSettled(h, { programId: program.programId }, [w.L1]);
    expect(enrollmentEvents(h, invited.enrollmentId).map((e) => e.envelope!.type)).not.toContain('EnrollmentStarted');
  });

  // The rollover's continuation into the next year, ended INELIGIBLE, while the program is not moved to that year yet.
  it('starts again an INELIGIBLE enrollment of a later year than its program\'s once the location is eligible for it', async () => {
    const program = await createProgram(h);
    const seeded = storedEnrollment({
      programId: program.programId,
      programName: program.name,
      partnerId: w.partnerId,
      locationId: w.L1,
      fiscalYear: NEXT_FY,
      status: 'INELIGIBLE',
      version: 2,
      reasons: ['Competency lapsed'],
    });
    await h.db.collection('enrollments').insertOne(seeded as never);
    const id = seeded._id;
    await eligibility(h, w, program.programId, w.L1, true, NEXT_FY);
    await eligibilityKnown(h, program.programId, w.L1, NEXT_FY);
    // Continue on it (/refresh), not Enroll: POST /v1/enrollments acts on the program's year, not this one.
    expect((await get(id)).body).toEqual(expect.objectContaining({ status: 'INELIGIBLE', nextAction: 'CONTINUE' }));
    const restarted = await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token: await w.token('admin'), body: {} });
    expect(restarted.status).toBe(200);
    expect(restarted.body).toEqual(expect.objectContaining({ fiscalYear: NEXT_FY, version: 3 }));
    expect(restarted.body.status).not.toBe('INELIGIBLE');
  });

  // The invitations service issues only for a location its own identity view knows as the partner's; this service's
  // view may be behind (identity's events on another topic, a large import ahead of the location's).
  it("records an invitation for a location this service's identity view does not know yet: INVITED, with its invitation", async () => {
    const program = await createProgram(h);
    const locationId = `L-unknown-${w.run}`;
    await issueInvitation(h, w, program, locationId, `inv-unknown-${w.run}`, 1);
    const id = enrollmentId({ programId: program.programId, locationId, fiscalYear: program.fiscalYear });
    await eventually(async () =>
      expect(await h.db.collection('enrollments').findOne({ _id: id } as never)).toEqual(
        expect.objectContaining({ status: 'INVITED', partnerId: w.partnerId, locationId, invitationId: `inv-unknown-${w.run}` }),
      ),
    );
    // Its partner's company admin lists it (by partner) and reads it by its id alike, until the location reaches the view.
    const token = await w.token('companyAdmin');
    const listed = await call(h, 'GET', `/v1/enrollments?programId=${program.programId}`, { token });
    expect(listed.body.items.map((e: { enrollmentId: string }) => e.enrollmentId)).toEqual([id]);
    const read = await call(h, 'GET', `/v1/enrollments/${id}`, { token });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ enrollmentId: id, locationId, status: 'INVITED' });
    // An Incentives admin of another location of the partner: no role there, 403; another partner: 404.
    expect((await call(h, 'GET', `/v1/enrollments/${id}`, { token: await w.token('admin') })).status).toBe(403);
    expect((await call(h, 'GET', `/v1/enrollments/${id}`, { token: await w.token('otherPartnerAdmin') })).status).toBe(404);
  });

  it('shows an invitation as Invited, and an ineligible decision before ENROLLED makes the enrollment INELIGIBLE', async () => {
    // L1 with approved profiles, whatever the tests before left there: Enroll proposes them (INVITED, next Submit).
    await approvedProfiles(h, w.partnerId, w.L1);
    const program = await createProgram(h);
    await eligibility(h, w, program.programId, w.L1, true);
    await eligibilityKnown(h, program.programId, w.L1);
    await issueInvitation(h, w, program, w.L1, `inv-${w.run}`);
    const invited = await eventually(async () => {
      const list = await call(h, 'GET', `/v1/enrollments?programId=${program.programId}`, { token: await w.token('admin') });
      expect(list.body.items).toHaveLength(1);
      return list.body.items[0];
    });
    expect(invited).toEqual(expect.objectContaining({ status: 'INVITED', statusLabel: 'Invited', nextAction: 'ENROLL', locationId: w.L1 }));

    const started = await enroll(program.programId, w.L1);
    expect(started.status).toBe(201);
    expect(started.body.enrollmentId).toBe(invited.enrollmentId);
    // Started from the invitation (version 1) with the profiles set up above.
    expect(started.body).toEqual(expect.objectContaining({ status: 'INVITED', nextAction: 'SUBMIT', missing: [], version: 2 }));

    const lost = await eligibility(h, w, program.programId, w.L1, false, CURRENT_FY, ['Partner designation lost']);
    await eventually(async () => expect((await get(invited.enrollmentId)).body).toEqual(expect.objectContaining({ status: 'INELIGIBLE', reasons: ['Partner designation lost'] })));
    // Other enrollment services on this shared broker (the other spec files') heard of the same invitation and
    // decision: ours is the event with the revision after our Enroll.
    const ours = (m: { envelope?: { type: string; data: unknown } }) =>
      m.envelope!.type === 'EnrollmentIneligible' && (m.envelope!.data as { revision: number }).revision === started.body.version + 1;
    await eventually(async () => expect(enrollmentEvents(h, invited.enrollmentId).filter(ours)).toHaveLength(1));
    // Naming the decision that ended it: a consumer holding an earlier eligible one knows it replaced (the overview
    // offers no Enroll on it while that decision is still on its way there).
    expect(enrollmentEvents(h, invited.enrollmentId).find(ours)!.envelope!.data).toEqual(
      expect.objectContaining({ previousStatus: 'INVITED', started: true, decision: { eventId: lost.eventId, decidedAt: new Date(lost.occurredAt).toISOString(), position: { partition: expect.any(Number), offset: expect.stringMatching(/^\d+$/) } } }),
    );
    // The same decision again changes nothing.
    await eligibility(h, w, program.programId, w.L1, false, CURRENT_FY, ['Partner designation lost']);
    // A later message on the same partition (key L1): once it is handled, so was the repeated decision before it.
    const sentinel = await createProgram(h);
    await eligibility(h, w, sentinel.programId, w.L1, true);
    await eligibilityKnown(h, sentinel.programId, w.L1);
    expect((await get(invited.enrollmentId)).body).toEqual(expect.objectContaining({ status: 'INELIGIBLE', version: started.body.version + 1 }));
    // Ours after our Enroll: the one EnrollmentIneligible (the other services' events for this id carry older revisions).
    const afterEnroll = enrollmentEvents(h, invited.enrollmentId)
      .map((m) => [m.envelope!.type, (m.envelope!.data as unknown as { revision: number }).revision] as const)
      .filter(([, revision]) => revision > started.body.version);
    expect(afterEnroll).toEqual([['EnrollmentIneligible', started.body.version + 1]]);
    expect((await get(invited.enrollmentId)).body.nextAction).toBeNull();

    // Eligible again: Enroll would start it again, so its admin sees Enroll as the next action (others nothing).
    await eligibility(h, w, program.programId, w.L1, true);
    await eventually(async () => expect((await get(invited.enrollmentId)).body).toEqual(expect.objectContaining({ status: 'INELIGIBLE', nextAction: 'ENROLL' })));
    expect((await get(invited.enrollmentId, 'incentivesUser')).body.nextAction).toBeNull();
    const again = await enroll(program.programId, w.L1);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(expect.objectContaining({ enrollmentId: invited.enrollmentId, status: 'INVITED', nextAction: 'SUBMIT' }));
  });

  it("leaves an open program's enrollment on an ineligible decision, and dead-letters a decision naming another partner's location", async () => {
    const dead = await watchFromNow([deadLetterTopic(Topics.eligibility)]);
    try {
      const open = await createProgram(h, { requiresEligibility: false });
      const started = await enroll(open.programId, w.L1);
      expect(started.status).toBe(201);
      // An open program needs no eligibility (SPEC 1, Programs): an ineligible decision for it ends nothing.
      await eligibility(h, w, open.programId, w.L1, false, CURRENT_FY, ['Revenue threshold not met']);
      // A later message on the same partition (key L1): once it is handled, so was the decision before it.
      const sentinel = await createProgram(h);
      await eligibility(h, w, sentinel.programId, w.L1, true);
      await eligibilityKnown(h, sentinel.programId, w.L1);
      expect((await get(started.body.enrollmentId)).body).toEqual(expect.objectContaining({ status: started.body.status, version: started.body.version }));
      expect(enrollmentEvents(h, started.body.enrollmentId).filter((m) => m.envelope!.type === 'EnrollmentIneligible')).toEqual([]);

      // L1 is the world partner's; a decision saying it is another partner's is bad input: dead-lettered, not stored.
      const program = await createProgram(h);
      await eligibility(h, { partnerId: w.otherPartnerId }, program.programId, w.L1, true);
      const [letter] = await dead.watch.waitFor(
        (m) => m.key === w.L1 && (m.envelope?.data as { programId?: string } | undefined)?.programId === program.programId,
        { timeoutMs: 30_000 },
      );
      expect(letter.headers[DeadLetterHeaders.error]).toMatch(new RegExp(`location ${w.L1} .*belongs to another partner`));
      expect(await h.db.collection('eligibility_view').countDocuments({ _id: `${program.programId}|${w.L1}` } as never)).toBe(0);
      expect((await enroll(program.programId, w.L1)).status).toBe(422);
    } finally {
      await dead.close();
    }
  });

  it("replaces a decision naming another partner, kept while its location was not known, with the location's own partner's, even when older", async () => {
    const program = await createProgram(h);
    const added = `LN-${randomUUID().slice(0, 8)}`;
    const view = async () => (await h.db.collection<{ _id: string; years?: Record<string, { eligible: boolean; partnerId?: string }> }>('eligibility_view').findOne({ _id: `${program.programId}|${added}` }))?.years?.[CURRENT_FY];
    // Not known yet: a decision naming the other partner (wrong) is kept, not eligible.
    await eligibility(h, { partnerId: w.otherPartnerId }, program.programId, added, false, CURRENT_FY, ['Wrong partner']);
    await eventually(async () => expect(await view()).toMatchObject({ eligible: false, partnerId: w.otherPartnerId }));
    // Identity tells of the location, as the world partner's; then that partner's own decision, published an hour
    // earlier (its eligibility system was late): it decides the location's eligibility.
    await h.kafka.publishEvent(Topics.identity, w.partnerId, {
      type: 'LocationAdded',
      partnerId: w.partnerId,
      data: { partnerId: w.partnerId, locationId: added, country: 'US', legalName: `Contoso ${added}` },
    });
    await eventually(async () => expect((await h.db.collection<{ _id: string; partnerId?: string }>('access_locations').findOne({ _id: added }))?.partnerId).toBe(w.partnerId));
    await h.kafka.publishEvent(Topics.eligibility, added, {
      type: 'EligibilityDetermined',
      source: 'eligibility-system',
      partnerId: w.partnerId,
      locationId: added,
      occurredAt: new Date(Date.now() - 3_600_000),
      data: { programId: program.programId, locationId: added, partnerId: w.partnerId, fiscalYear: CURRENT_FY, eligible: true, reasons: [] },
    });
    await eventually(async () => expect(await view()).toMatchObject({ eligible: true, partnerId: w.partnerId }));
  });

  it('does not let a decision naming another partner, kept while the location was not known, make the location eligible', async () => {
    const program = await createProgram(h);
    // L1 is the world partner's; the kept decision is written as the view would hold one from before identity told of L1.
    await h.db.collection('eligibility_view').insertOne({
      _id: `${program.programId}|${w.L1}`,
      programId: program.programId,
      locationId: w.L1,
      partnerId: w.otherPartnerId,
      years: { [CURRENT_FY]: { eligible: true, reasons: [], decidedAt: new Date(), eventId: randomUUID(), partnerId: w.otherPartnerId } },
    } as never);
    const refused = await enroll(program.programId, w.L1);
    expect(refused.status).toBe(422);
    expect(refused.body.type).toMatch(/location-not-eligible$/);
  });

  it("sets the owner's decision aside, not lost, when a later one names another partner while the location is not known; Enroll reads the owner's", async () => {
    const program = await createProgram(h);
    const added = `LN-${randomUUID().slice(0, 8)}`;
    const view = async () => (await h.db.collection<{ _id: string; years?: Record<string, unknown> }>('eligibility_view').findOne({ _id: `${program.programId}|${added}` }))?.years?.[CURRENT_FY];
    const decide = (partnerId: string, eligible: boolean, occurredAt: Date) =>
      h.kafka.publishEvent(Topics.eligibility, added, {
        type: 'EligibilityDetermined',
        source: 'eligibility-system',
        partnerId,
        locationId: added,
        occurredAt,
        data: { programId: program.programId, locationId: added, partnerId, fiscalYear: CURRENT_FY, eligible, reasons: eligible ? [] : ['Wrong partner'] },
      });
    // Not known yet: the owner's decision, then a later one naming the other partner (the same key: in order).
    await decide(w.partnerId, true, new Date(Date.now() - 60_000));
    await decide(w.otherPartnerId, false, new Date());
    await eventually(async () =>
      expect(await view()).toMatchObject({ eligible: false, partnerId: w.otherPartnerId, others: [expect.objectContaining({ eligible: true, partnerId: w.partnerId })] }),
    );

    // A location the world partner's admin holds, whose view is as the one above (the owner's decision set aside):
    // Enroll reads the owner's decision, eligible.
    const set = await view();
    await h.db.collection('eligibility_view').insertOne({ _id: `${program.programId}|${w.L1}`, programId: program.programId, locationId: w.L1, partnerId: w.otherPartnerId, years: { [CURRENT_FY]: set } } as never);
    const enrolled = await enroll(program.programId, w.L1);
    expect(enrolled.status).toBe(201);
  });

  it('CLOSED stops new enrollments; DISCONTINUED ends the existing ones', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    await approvedProfiles(h, w.partnerId, w.L2);
    const enrolled = await enroll(program.programId, w.L2, {}, 'adminOfOther');
    expect(enrolled.status).toBe(201);
    const submitted = await call(h, 'POST', `/v1/enrollments/${enrolled.body.enrollmentId}/submit`, { token: await w.token('adminOfOther') });
    expect(submitted.body.status).toBe('ENROLLED');
    const inProgress = await enroll(program.programId, w.L1);

    const read = await call(h, 'GET', `/v1/programs/${program.programId}`, { token: await w.token('incentivesUser') });
    const closed = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { state: 'CLOSED' }, headers: { 'if-match': read.headers.get('etag')! } });
    expect(closed.body).toEqual(expect.objectContaining({ state: 'CLOSED', revision: 2 }));
    const refused = await enroll(program.programId, w.L3);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ programState: 'CLOSED', type: expect.stringMatching(/\/program-not-open$/) });
    // An enrollment already started may still go on.
    expect((await enroll(program.programId, w.L1)).status).toBe(200);

    const discontinued = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { state: 'DISCONTINUED' }, headers: { 'if-match': '"2"' } });
    expect(discontinued.status).toBe(200);
    for (const id of [enrolled.body.enrollmentId, inProgress.body.enrollmentId]) {
      await waitForEnrollmentEvent(h, id, 'EnrollmentDiscontinued');
      expect((await get(id, 'companyAdmin')).body.status).toBe('DISCONTINUED');
    }
    const ended = await enroll(program.programId, w.L1);
    expect(ended.body).toEqual(expect.objectContaining({ status: 409, enrollmentStatus: 'DISCONTINUED', detail: 'This enrollment is discontinued; it cannot be continued.' }));
    const notSubmitted = await call(h, 'POST', `/v1/enrollments/${inProgress.body.enrollmentId}/submit`, { token: await w.token('admin') });
    expect(notSubmitted.body).toEqual(expect.objectContaining({ status: 409, enrollmentStatus: 'DISCONTINUED', detail: 'This enrollment is discontinued; it cannot be submitted.' }));
    const reopen = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { state: 'OPEN' }, headers: { 'if-match': '"3"' } });
    expect(reopen.status).toBe(409);
    const published = await h.watch.waitFor(
      (m) => m.topic === Topics.programs && (m.envelope?.data as { program: { programId: string } }).program.programId === program.programId,
      { count: 3 },
    );
    expect(published.map((m) => [m.envelope!.type, (m.envelope!.data as { program: { revision: number; state: string } }).program.state])).toEqual([
      ['ProgramCreated', 'OPEN'],
      ['ProgramUpdated', 'CLOSED'],
      ['ProgramUpdated', 'DISCONTINUED'],
    ]);
  });

  it('a CLOSED program takes back an enrollment started before, ended INELIGIBLE by a decision, once the location is eligible again; never one nobody started', async () => {
    const program = await createProgram(h);
    for (const locationId of [w.L1, w.L3]) {
      await eligibility(h, w, program.programId, locationId, true);
      await eligibilityKnown(h, program.programId, locationId);
    }
    const started = (await enroll(program.programId, w.L1)).body.enrollmentId as string;
    const read = await call(h, 'GET', `/v1/programs/${program.programId}`, { token: await w.token('incentivesUser') });
    expect((await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { state: 'CLOSED' }, headers: { 'if-match': read.headers.get('etag')! } })).status).toBe(200);
    // A decision the eligibility system corrects minutes later: ended, then eligible again.
    await eligibility(h, w, program.programId, w.L1, false, CURRENT_FY, ['Recomputing']);
    await waitForEnrollmentEvent(h, started, 'EnrollmentIneligible');
    expect((await get(started, 'admin')).body).toMatchObject({ status: 'INELIGIBLE', nextAction: null });
    await eligibility(h, w, program.programId, w.L1, true);
    await eligibilityKnown(h, program.programId, w.L1);
    expect((await get(started, 'admin')).body).toMatchObject({ status: 'INELIGIBLE', nextAction: 'ENROLL' });
    const again = await enroll(program.programId, w.L1);
    // Started again by this call: 201.
    expect(again.status).toBe(201);
    expect(again.body.enrollmentId).toBe(started);
    // A proposal again (what it proposes depends on the profiles L1 has in this file: Submit or Continue next).
    expect(['INVITED', 'ACTION_REQUIRED']).toContain(again.body.status);
    expect(['SUBMIT', 'CONTINUE']).toContain(again.body.nextAction);
    // L3 was eligible but nobody enrolled it before the program closed: that would be a new enrollment.
    expect((await enroll(program.programId, w.L3)).body).toMatchObject({ status: 409, type: expect.stringMatching(/\/program-not-open$/) });
  });

  it("renames a program's enrollments with it: read, and their later events, by its new name; its discontinuation names one", async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const id = (await enroll(program.programId, w.L1)).body.enrollmentId as string;
    const before = await get(id, 'companyAdmin');
    const name = `Azure Growth ${randomUUID().slice(0, 6)}`;
    expect((await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { name }, headers: { 'if-match': '"1"' } })).status).toBe(200);
    await eventually(async () => expect((await get(id, 'companyAdmin')).body.programName).toBe(name));
    // The rename is no new version (the ETag stays): a browser revalidating its copy gets the new name, not a 304. (As
    // a browser sends it from its cache: node:http, since fetch adds `Cache-Control: no-cache` to such a request.)
    const revalidated = await revalidate(`${h.service.url}/v1/enrollments/${id}`, await w.token('companyAdmin'), before.headers.get('etag')!);
    expect(revalidated.etag).toBe(before.headers.get('etag'));
    expect(revalidated.status).toBe(200);
    expect(JSON.parse(revalidated.body).programName).toBe(name);
    // An invitation the invitations service issued with the old name (its copy behind the rename): the catalog's name.
    await issueInvitation(h, w, { ...program, name: program.name }, w.L3);
    await eventually(async () => {
      const items = (await call(h, 'GET', `/v1/enrollments?programId=${program.programId}&locationId=${w.L3}`, { token: await w.token('companyAdmin') })).body.items;
      expect(items.map((e: { programName: string }) => e.programName)).toEqual([name]);
    });

    expect((await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { state: 'DISCONTINUED' }, headers: { 'if-match': '"2"' } })).status).toBe(200);
    const [discontinued] = await waitForEnrollmentEvent(h, id, 'EnrollmentDiscontinued');
    expect(discontinued.envelope!.data).toEqual(expect.objectContaining({ programName: name, reasons: [`The program ${name} was discontinued.`] }));
    // It says when the program was discontinued, not only when the sweep ran (it may run past the year's end, its
    // consumer behind: the notification service tells none of a year over by then).
    const [update] = await h.watch.waitFor((m) => m.topic === Topics.programs && m.envelope?.type === 'ProgramUpdated' && (m.envelope.data as { program: { programId: string; revision: number } }).program.programId === program.programId && (m.envelope.data as { program: { revision: number } }).program.revision === 3);
    expect(discontinued.envelope!.data).toMatchObject({ discontinuedAt: update.envelope!.occurredAt });
  });

  it('reads none of its enrollments for a ProgramUpdated that does not rename the program (its payout rules changed)', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    expect((await enroll(program.programId, w.L1)).status).toBe(201);
    const renames = jest.spyOn(serviceOf(h, EnrollmentsModule, EnrollmentsRepository), 'renameProgram');
    const ofProgram = () => renames.mock.calls.filter(([programId]) => programId === program.programId);
    try {
      const rules = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { payoutRules: { ...RULES, allowedCurrencies: ['USD'] } }, headers: { 'if-match': '"1"' } });
      expect(rules.status).toBe(200);
      await groupCaughtUp(h.service.env.KAFKA_GROUP_ID, [Topics.programs]);
      expect(ofProgram()).toEqual([]);
      // Renamed: its enrollments are.
      const name = `Renamed ${randomUUID().slice(0, 6)}`;
      expect((await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { name }, headers: { 'if-match': '"2"' } })).status).toBe(200);
      await eventually(async () => expect(ofProgram()).toEqual([[program.programId, name]]));
      // Renamed by a release that does not record the rename (a rolling update, a rollback): its ProgramUpdated renames
      // them still, the name not being the one the recorded rename gave.
      const programs = h.db.collection<{ _id: string }>('programs');
      await programs.updateOne({ _id: program.programId }, { $set: { name: `${name} (old release)`, revision: 4 } });
      await serviceOf(h, EnrollmentsModule, RenameProgramEnrollments).execute(program.programId, 4);
      expect(ofProgram()).toEqual([[program.programId, name], [program.programId, `${name} (old release)`]]);
      // Recorded before `nameChangedTo` was (its `nameChangedAt` alone): taken at it, a later revision reads none.
      await programs.updateOne({ _id: program.programId }, { $set: { nameChangedAt: 4 }, $unset: { nameChangedTo: '' } });
      await serviceOf(h, EnrollmentsModule, RenameProgramEnrollments).execute(program.programId, 5);
      expect(ofProgram()).toHaveLength(2);
    } finally {
      renames.mockRestore();
    }
  });

  // Enroll read the program, the operator renamed it and the rename's sweep ran, then Enroll's write landed with the old
  // name: its recheck, which reads the program after the write, renames it (not one a later rename gave a newer name).
  it('renames an enrollment written with a name read before a rename (the recheck after a first write)', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const id = (await enroll(program.programId, w.L1)).body.enrollmentId as string;
    const model = h.service.app.get(EnrollmentsRepository).model;
    const recheck = h.service.app.get(RecheckStart);
    const written = { _id: id, programId: program.programId, locationId: w.L1, fiscalYear: program.fiscalYear, partnerId: w.partnerId, programName: 'Old name' };

    await model.updateOne({ _id: id }, { $set: { programName: 'Old name' } });
    expect(await recheck.execute(written)).toEqual({ ended: null, renamedTo: program.name });
    expect((await get(id, 'companyAdmin')).body.programName).toBe(program.name);

    await model.updateOne({ _id: id }, { $set: { programName: 'Newer name' } });
    await recheck.execute(written);
    expect((await get(id, 'companyAdmin')).body.programName).toBe('Newer name');
  });

  it('keeps enrolledAt when an enrollment ENROLLED once is submitted again (its bank profile rejected, another one chosen)', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const { bank } = await approvedProfiles(h, w.partnerId, w.L3);
    const id = (await enroll(program.programId, w.L3)).body.enrollmentId as string;
    const enrolled = await submit(id);
    expect(enrolled.body).toMatchObject({ status: 'ENROLLED', enrolledAt: expect.any(String) });

    // The bank profile edited and rejected: ACTION_REQUIRED; the admin chooses another (approved) bank profile: back
    // to the proposal (next action Submit), enrolledAt kept.
    await profileEvent(h, 'ProfileUpdated', { ...bank, revision: 2, status: 'PENDING_VALIDATION' });
    await profileEvent(h, 'ProfileActionRequired', { ...bank, revision: 2, status: 'ACTION_REQUIRED', reasons: ['The account is closed.'] });
    await eventually(async () => expect((await get(id)).body.status).toBe('ACTION_REQUIRED'));
    const other = bankProfile(w.partnerId, { status: 'APPROVED', currency: 'EUR', name: 'EUR account' });
    await profileEvent(h, 'ProfileApproved', other);
    await profileKnown(h, other);
    const chosen = await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token: await w.token('admin'), body: { bankProfileId: other.profileId } });
    expect(chosen.body).toMatchObject({ status: 'INVITED', nextAction: 'SUBMIT', enrolledAt: enrolled.body.enrolledAt });
    expect(chosen.body.submittedAt).toBeUndefined();

    // Submitted again (both profiles approved: ENROLLED at once): the year was first completed then, not now.
    const again = await submit(id);
    expect(again.body).toMatchObject({ status: 'ENROLLED', proposal: { bankProfileId: other.profileId } });
    expect(again.body.enrolledAt).toBe(enrolled.body.enrolledAt);
    expect(again.body.submittedAt).not.toBe(enrolled.body.submittedAt);
  });

  it('announces a second rejection found while ACTION_REQUIRED (EnrollmentRejected again, with every reason); one fixed while the other stands announces nothing', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const { bank, tax } = await approvedProfiles(h, w.partnerId, w.L3);
    const id = (await enroll(program.programId, w.L3)).body.enrollmentId as string;
    expect((await submit(id)).body.status).toBe('ENROLLED');

    // The bank profile edited and rejected: ACTION_REQUIRED, EnrollmentRejected with its reason.
    await profileEvent(h, 'ProfileUpdated', { ...bank, revision: 2, status: 'PENDING_VALIDATION' });
    await profileEvent(h, 'ProfileActionRequired', { ...bank, revision: 2, status: 'ACTION_REQUIRED', reasons: ['The account is closed.'] });
    const [first] = await waitForEnrollmentEvent(h, id, 'EnrollmentRejected');
    expect(first.envelope!.data).toMatchObject({ status: 'ACTION_REQUIRED', reasons: ['Bank profile: The account is closed.'], missing: ['BANK_PROFILE_NOT_APPROVED'] });

    // Then the tax profile is edited and rejected too: the admins are told of it (a second EnrollmentRejected, the
    // status unchanged, with both reasons), not left to find it when the bank profile is fixed.
    await profileEvent(h, 'ProfileUpdated', { ...tax, revision: 2, status: 'PENDING_VALIDATION' });
    await profileEvent(h, 'ProfileActionRequired', { ...tax, revision: 2, status: 'ACTION_REQUIRED', reasons: ['The W-9 is not signed.'] });
    const [, second] = await waitForEnrollmentEvent(h, id, 'EnrollmentRejected', 2);
    expect(second.envelope!.data).toMatchObject({
      status: 'ACTION_REQUIRED',
      reasons: ['Bank profile: The account is closed.', 'Tax profile: The W-9 is not signed.'],
      missing: ['BANK_PROFILE_NOT_APPROVED', 'TAX_PROFILE_NOT_APPROVED'],
      revision: first.envelope!.data.revision + 1,
    });
    expect(second.envelope!.data.previousStatus).toBeUndefined();
    expect(second.envelope!.eventId).not.toBe(first.envelope!.eventId);

    // The bank profile corrected (pending again) while the tax profile stays rejected: still ACTION_REQUIRED, only the
    // tax reason left (the enrollment shows it); nothing new to tell, so no event.
    await profileEvent(h, 'ProfileUpdated', { ...bank, revision: 3, status: 'PENDING_VALIDATION' });
    await eventually(async () => expect((await get(id)).body.reasons).toEqual(['Tax profile: The W-9 is not signed.']));
    await enrollmentEventsSettled(h, { locationId: w.L3 }, [w.L3]);
    expect(enrollmentEvents(h, id).map((e) => e.envelope!.type)).toEqual([
      'EnrollmentStarted',
      'EnrollmentEnrolled',
      'EnrollmentValidating',
      'EnrollmentRejected',
      'EnrollmentRejected',
    ]);
  });
});

describe('Continue finding a new reason while ACTION_REQUIRED', () => {
  it('announces it (EnrollmentActionRequired again, with every reason); a Continue that finds nothing new announces nothing', async () => {
    // A program that takes euros only: the location's default bank profile (USD, approved) does not fit it.
    const program = await createProgram(h, { requiresEligibility: false, payoutRules: { ...RULES, allowedCurrencies: ['EUR'] } });
    const { tax } = await approvedProfiles(h, w.partnerId, w.L3);
    const first = await enroll(program.programId, w.L3);
    expect(first.body).toMatchObject({ status: 'ACTION_REQUIRED', missing: ['CURRENCY_NOT_ALLOWED'] });
    const id = first.body.enrollmentId as string;
    const [announced] = await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');

    // The location's tax profile is rejected meanwhile: Continue finds a second thing to fix, and says so.
    const rejected = { ...tax, revision: 2, status: 'ACTION_REQUIRED' as const, reasons: ['The W-9 is not signed.'] };
    await profileEvent(h, 'ProfileActionRequired', rejected);
    await profileKnown(h, rejected);
    const again = await enroll(program.programId, w.L3);
    expect(again.body).toMatchObject({ status: 'ACTION_REQUIRED', missing: ['CURRENCY_NOT_ALLOWED', 'TAX_PROFILE_NOT_APPROVED'] });
    const [, second] = await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired', 2);
    expect(second.envelope!.data).toMatchObject({ status: 'ACTION_REQUIRED', missing: ['CURRENCY_NOT_ALLOWED', 'TAX_PROFILE_NOT_APPROVED'], revision: announced.envelope!.data.revision + 1 });
    expect(second.envelope!.data.reasons).toEqual(again.body.reasons);
    expect(second.envelope!.data.reasons).toHaveLength(2);

    // Continue again, nothing new: no event.
    expect((await enroll(program.programId, w.L3)).body.version).toBe(again.body.version);
    await enrollmentEventsSettled(h, { programId: program.programId }, [w.L3]);
    expect(enrollmentEvents(h, id).map((e) => e.envelope!.type)).toEqual(['EnrollmentStarted', 'EnrollmentActionRequired', 'EnrollmentActionRequired']);
  });
});

describe('the end of the fiscal year', () => {
  /** The service's one Clock (the rollover's too), moved to `at` for this test. */
  const clockAt = (at: Date) => jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(at);
  const yearEnd = fiscalYearRange(CURRENT_FY).end;
  const lastDay = new Date(yearEnd.getTime() - 1).toISOString().slice(0, 10);
  afterEach(() => jest.restoreAllMocks());

  it("refuses to start an enrollment once the program's fiscal year is over (409, nothing stored or published); its last millisecond, or a year not started yet, still starts one", async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    clockAt(yearEnd);
    const refused = await enroll(program.programId, w.L1);
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(refused.body).toEqual({
      type: expect.stringMatching(/\/fiscal-year-ended$/),
      title: 'Fiscal year ended',
      status: 409,
      detail: `Program ${program.programId} is still in ${CURRENT_FY}, which ended on ${lastDay}; enrollments for ${NEXT_FY} open when the program moves to ${NEXT_FY}.`,
      fiscalYear: CURRENT_FY,
      fiscalYearEndedAt: yearEnd.toISOString(),
      instance: '/v1/enrollments',
    });
    expect(await h.db.collection('enrollments').countDocuments({ programId: program.programId })).toBe(0);
    await enrollmentEventsSettled(h, { programId: program.programId }, [w.L1]);
    expect(h.watch.find((m) => m.topic === Topics.enrollments && (m.envelope?.data as { programId?: string } | undefined)?.programId === program.programId)).toEqual([]);

    // The last millisecond of the year is still in it.
    clockAt(new Date(yearEnd.getTime() - 1));
    const started = await enroll(program.programId, w.L1);
    expect(started.status).toBe(201);
    expect(started.body).toEqual(expect.objectContaining({ fiscalYear: CURRENT_FY, version: 1 }));
    await waitForEnrollmentEvent(h, started.body.enrollmentId, 'EnrollmentStarted');

    // A program moved to the next year before it starts: enrolling for it is allowed.
    jest.restoreAllMocks();
    const early = await createProgram(h, { requiresEligibility: false, fiscalYear: NEXT_FY });
    const ahead = await enroll(early.programId, w.L1);
    expect(ahead.status).toBe(201);
    expect(ahead.body.fiscalYear).toBe(NEXT_FY);
  });

  it('refuses Continue, Submit and another bank profile on an unfinished enrollment of a year that is over (409, unchanged); an ENROLLED one is still re-checked', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    await approvedProfiles(h, w.partnerId, w.L3);
    const other = bankProfile(w.partnerId, { status: 'APPROVED', currency: 'EUR', name: 'EUR account' });
    await profileEvent(h, 'ProfileApproved', other);
    await profileKnown(h, other);
    const started = await enroll(program.programId, w.L3);
    expect(started.body).toEqual(expect.objectContaining({ status: 'INVITED', nextAction: 'SUBMIT', version: 1 }));
    const id = started.body.enrollmentId;
    await enrollmentEventsSettled(h, { programId: program.programId }, [w.L3]);
    const stored = () => h.db.collection('enrollments').findOne({ _id: id as never });
    const before = await stored();
    const eventsBefore = enrollmentEvents(h, id).length;

    clockAt(yearEnd);
    const token = await w.token('admin');
    const refusals = {
      submitted: await submit(id),
      continued: await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token, body: {} }),
      chosen: await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token, body: { bankProfileId: other.profileId } }),
      enrolledAgain: await enroll(program.programId, w.L3),
    };
    for (const [action, refused] of Object.entries(refusals)) {
      const verb = action === 'submitted' ? 'submitted' : 'continued';
      expect({ action, status: refused.status, body: refused.body }).toEqual({
        action,
        status: 409,
        body: expect.objectContaining({
          type: expect.stringMatching(/\/fiscal-year-ended$/),
          title: 'Fiscal year ended',
          detail: `This enrollment is for ${CURRENT_FY}, which ended on ${lastDay}; it can no longer be ${verb}: the rollover continues or expires it.`,
          status: 409,
          enrollmentStatus: 'INVITED',
          fiscalYear: CURRENT_FY,
          fiscalYearEndedAt: yearEnd.toISOString(),
        }),
      });
    }
    await enrollmentEventsSettled(h, { programId: program.programId }, [w.L3]);
    expect(await stored()).toEqual(before);
    expect(before).toEqual(expect.objectContaining({ status: 'INVITED', version: 1 }));
    expect(enrollmentEvents(h, id)).toHaveLength(eventsBefore);

    // Submitted within the year (approved profiles: ENROLLED at once), it is still re-checked after the year ends.
    jest.restoreAllMocks();
    expect((await submit(id)).body).toEqual(expect.objectContaining({ status: 'ENROLLED', version: 2 }));
    clockAt(yearEnd);
    expect((await submit(id)).body).toEqual(expect.objectContaining({ status: 'ENROLLED', version: 2 }));
    const continued = await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token, body: {} });
    expect({ status: continued.status, enrollment: continued.body.status }).toEqual({ status: 200, enrollment: 'ENROLLED' });
  });

  it("judges a tax profile's expiry by the same clock: moved past it (the year still running), Enroll and Submit find it expired", async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    // The last test of the file: L3's tax profile is replaced by one that expires half a day before the year ends.
    const expiresAt = new Date(yearEnd.getTime() - 12 * 3_600_000).toISOString();
    await approvedProfiles(h, w.partnerId, w.L3, { expiresAt });
    clockAt(new Date(yearEnd.getTime() - 3_600_000));
    const started = await enroll(program.programId, w.L3);
    expect(started.body).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', nextAction: 'CONTINUE', missing: ['TAX_PROFILE_EXPIRED'] }));
    const refused = await submit(started.body.enrollmentId);
    expect(refused.status).toBe(422);
    expect(refused.body.missing).toEqual(['TAX_PROFILE_EXPIRED']);
  });

  // Within the enrollment's own year: SPEC 1 Enrollment 6 ("complete under the program's rules for the new year").
  it("judges a tax profile's expiry within the enrollment's year: one that ends with this year does not cover an enrollment of the next", async () => {
    const program = await createProgram(h, { requiresEligibility: false, fiscalYear: NEXT_FY });
    await approvedProfiles(h, w.partnerId, w.L3, { expiresAt: yearEnd.toISOString() }); // valid through CURRENT_FY only
    clockAt(new Date(yearEnd.getTime() - 86_400_000)); // CURRENT_FY's last day: the tax profile is still valid today
    const started = await enroll(program.programId, w.L3);
    expect(started.body).toEqual(expect.objectContaining({ fiscalYear: NEXT_FY, status: 'ACTION_REQUIRED', nextAction: 'CONTINUE', missing: ['TAX_PROFILE_EXPIRED'] }));
    const refused = await submit(started.body.enrollmentId);
    expect(refused.status).toBe(422);
    expect(refused.body.missing).toEqual(['TAX_PROFILE_EXPIRED']);
  });

  it('and an ENROLLED one re-checked after its year ended (before the rollover ran) stays ENROLLED when its tax profile covered the year', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    await approvedProfiles(h, w.partnerId, w.L3, { expiresAt: new Date(yearEnd.getTime() + 3_600_000).toISOString() });
    const started = await enroll(program.programId, w.L3);
    const id = started.body.enrollmentId;
    expect((await submit(id)).body).toEqual(expect.objectContaining({ status: 'ENROLLED', version: 2 }));
    clockAt(new Date(yearEnd.getTime() + 2 * 3_600_000)); // the tax profile expired an hour ago, after the year
    expect((await submit(id)).body).toEqual(expect.objectContaining({ status: 'ENROLLED', version: 2 }));
    const continued = await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token: await w.token('admin'), body: {} });
    expect(continued.body).toEqual(expect.objectContaining({ status: 'ENROLLED', version: 2 }));
    expect(enrollmentEvents(h, id).map((m) => m.envelope!.type)).not.toContain('EnrollmentActionRequired');
  });

  // No event comes when a tax profile's date passes: the follow-up (at start and every FOLLOW_UP_INTERVAL_MS) does it.
  /**
   * On day 30 of the running year, an ENROLLED enrollment at L3 whose required tax profile expires on day 60; the
   * follow-up's mark cleared (the run at start recorded the real time as done: from the start of time, as on a first run).
   */
  async function enrolledWithTaxExpiringOnDay60() {
    const { start } = fiscalYearRange(CURRENT_FY);
    const day = 86_400_000;
    clockAt(new Date(start.getTime() + 30 * day));
    const program = await createProgram(h, { requiresEligibility: false });
    await approvedProfiles(h, w.partnerId, w.L3, { expiresAt: new Date(start.getTime() + 60 * day).toISOString() });
    const id = (await enroll(program.programId, w.L3)).body.enrollmentId;
    expect((await submit(id)).body).toEqual(expect.objectContaining({ status: 'ENROLLED', version: 2 }));
    await h.db.collection('job_marks').deleteMany({});
    return { program, id, day61: new Date(start.getTime() + 61 * day) };
  }
  const readStored = (enrollmentId: string) => h.db.collection('enrollments').findOne({ _id: enrollmentId } as never);

  it("makes an ENROLLED enrollment ACTION_REQUIRED once its required tax profile's expiry date has come, within its year, once", async () => {
    const { program, id, day61 } = await enrolledWithTaxExpiringOnDay60();
    const followUp = h.service.app.get(FollowExpiredTaxProfiles);
    expect(await followUp.execute()).toMatchObject({ changed: 0, complete: true }); // not expired yet on day 30
    expect(await readStored(id)).toMatchObject({ status: 'ENROLLED', version: 2 });

    clockAt(day61);
    const run = await followUp.execute();
    expect(run).toMatchObject({ complete: true });
    expect(run.changed).toBeGreaterThanOrEqual(1);
    expect(await readStored(id)).toMatchObject({ status: 'ACTION_REQUIRED', missing: ['TAX_PROFILE_EXPIRED'], version: 3 });
    const [asked] = await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');
    expect(asked.envelope!.data).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', previousStatus: 'ENROLLED', missing: ['TAX_PROFILE_EXPIRED'] }));

    await h.db.collection('job_marks').deleteMany({});
    expect(await followUp.execute()).toMatchObject({ complete: true });
    expect(await readStored(id)).toMatchObject({ status: 'ACTION_REQUIRED', version: 3 });
    await enrollmentEventsSettled(h, { programId: program.programId }, [w.L3]);
    expect(enrollmentEvents(h, id).filter((m) => m.envelope!.type === 'EnrollmentActionRequired')).toHaveLength(1);
  });

  // A tax profile renewed just before its old date, its event not consumed yet (a start after a redeploy, a consumer
  // behind): the follow-up must not take the view's old date as expired (an email nobody can take back).
  it('does nothing while this service has not consumed the profile events already published; the next run does it', async () => {
    const { id, day61 } = await enrolledWithTaxExpiringOnDay60();
    const followUp = h.service.app.get(FollowExpiredTaxProfiles);
    clockAt(day61);
    const behind = jest.spyOn(serviceOf(h, EnrollmentsModule, ConsumerCatchUp), 'wait').mockResolvedValueOnce(false);
    try {
      expect(await followUp.execute()).toMatchObject({ changed: 0, complete: false });
    } finally {
      behind.mockRestore();
    }
    expect(await readStored(id)).toMatchObject({ status: 'ENROLLED', version: 2 });
    expect(await h.db.collection('job_marks').countDocuments({})).toBe(0);
    const run = await followUp.execute();
    expect(run).toMatchObject({ complete: true });
    expect(await readStored(id)).toMatchObject({ status: 'ACTION_REQUIRED', missing: ['TAX_PROFILE_EXPIRED'], version: 3 });
  });

  // Caught up, but a profile event dead-lettered after a failure that might clear is missing from the view (its offset
  // committed): it may be the renewal. Nothing until a replay applies it, as the rollover.
  it('does nothing while a profile event this service dead-lettered is not applied; the run after the replay does it', async () => {
    const { id, day61 } = await enrolledWithTaxExpiringOnDay60();
    const followUp = h.service.app.get(FollowExpiredTaxProfiles);
    clockAt(day61);
    const letter = { _id: 'x', groupId: 'enrollment', eventId: randomUUID(), type: 'ProfileUpdated', topic: Topics.payoutProfiles, partition: 0, offset: '7', error: 'kept failing', permanent: false, failedAt: new Date() };
    const deadLettered = jest.spyOn(serviceOf(h, EnrollmentsModule, ConsumerCatchUp), 'unappliedDeadLetters').mockResolvedValueOnce([letter]);
    try {
      expect(await followUp.execute()).toMatchObject({ changed: 0, complete: false });
      expect(deadLettered).toHaveBeenCalledWith([Topics.payoutProfiles]);
    } finally {
      deadLettered.mockRestore();
    }
    expect(await readStored(id)).toMatchObject({ status: 'ENROLLED', version: 2 });
    expect(await h.db.collection('job_marks').countDocuments({})).toBe(0);
    expect(await followUp.execute()).toMatchObject({ complete: true });
    expect(await readStored(id)).toMatchObject({ status: 'ACTION_REQUIRED', missing: ['TAX_PROFILE_EXPIRED'], version: 3 });
  });
});
