/**
 * A bank profile an enrollment keeps (chosen by its admin, or in use since Submit) whose `locationIds` are narrowed so
 * that it no longer serves the enrollment's location: only the admins of the locations it still serves may edit the
 * account now, so the enrollment may not keep it. Its event (on the real topic, handled by the real consumer) moves
 * the enrollment to ACTION_REQUIRED with the reason and one EnrollmentActionRequired, the choice cleared: Continue
 * proposes the location's default. Every path that would go on with the kept profile re-checks it: Continue, Submit
 * (409), Enroll's write of a choice raced by the narrowing, and the rollover (ACTION_REQUIRED in the next year).
 */
import { eventually } from '@lib/testing';
import { enrollmentId } from '../src/common/ids';
import { Enrollment } from '../src/enrollments/enrollment.schema';
import { EnrollmentsModule } from '../src/enrollments/enrollments.module';
import { PayoutFacts } from '../src/enrollments/payout-facts';
import { RecordProfileChange } from '../src/enrollments/usecases/record-profile-change.use-case';
import { RenewalContext } from '../src/rollover/renewal-context';
import {
  approvedProfiles,
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
  NEXT_FY,
  profileEvent,
  profileKnown,
  waitForEnrollmentEvent,
  serviceOf,
  withHarness,
  World,
} from './support';

jest.setTimeout(120_000);

let h: Harness;
let w: World;
withHarness((harness, world) => ((h = harness), (w = world)));

const token = () => w.token('admin');
const enroll = async (programId: string, locationId: string, extra: Record<string, unknown> = {}) =>
  call(h, 'POST', '/v1/enrollments', { token: await token(), body: { programId, locationId, ...extra } });
const refresh = async (id: string, body: Record<string, unknown> = {}) => call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token: await token(), body });
const submit = async (id: string) => call(h, 'POST', `/v1/enrollments/${id}/submit`, { token: await token() });
const get = async (id: string) => call(h, 'GET', `/v1/enrollments/${id}`, { token: await token() });
const stored = (id: string) => h.db.collection<Enrollment>('enrollments').findOne({ _id: id });
const viewOf = (profileId: string) => h.db.collection<{ _id: string; locationIds?: string[] | null; version?: number; currency?: string }>('profile_view').findOne({ _id: profileId });
const types = (id: string) => enrollmentEvents(h, id).map((m) => m.envelope!.type);
const reason = (name: string) => `The bank profile "${name}" no longer serves this location: choose another bank profile.`;

/** A program L3 is eligible for, with L3's default bank and tax profiles approved. */
async function eligibleL3() {
  const program = await createProgram(h);
  await eligibility(h, w, program.programId, w.L3, true);
  await eligibilityKnown(h, program.programId, w.L3);
  const { bank: defaultBank } = await approvedProfiles(h, w.partnerId, w.L3);
  return { program, defaultBank };
}

/** eligibleL3, and another bank profile serving L1 and L3; `narrowed`: its next version, serving L1 only. */
async function setUp(name: string, status: 'APPROVED' | 'PENDING_VALIDATION' = 'APPROVED') {
  const { program, defaultBank } = await eligibleL3();
  const shared = bankProfile(w.partnerId, { status, currency: 'EUR', name, locationIds: [w.L1, w.L3], version: 2 });
  await profileEvent(h, status === 'APPROVED' ? 'ProfileApproved' : 'ProfileCreated', shared);
  await profileKnown(h, shared);
  // Its admins (of L1 and L3) take L3 out: the same revision and status at a later version (no new validation).
  const narrowed = { ...shared, locationIds: [w.L1], version: 3 };
  return { program, defaultBank, shared, narrowed };
}

/** Enrolled at L3 with the shared profile chosen, and submitted. */
async function submittedWith(programId: string, profileId: string, expected: 'ENROLLED' | 'VALIDATING') {
  const chosen = await enroll(programId, w.L3, { bankProfileId: profileId });
  expect(chosen.body).toMatchObject({ status: 'INVITED', proposal: { bankProfileId: profileId } });
  const submitted = await submit(chosen.body.enrollmentId);
  expect(submitted.body).toMatchObject({ status: expected });
  return chosen.body.enrollmentId as string;
}

/** Lets RecordProfileChange run as usual, and hands out the promise of its run for the profile event of `version`. */
function handledRuns(profileId: string, version: number) {
  const handler = serviceOf(h, EnrollmentsModule, RecordProfileChange);
  const handle = handler.execute.bind(handler);
  const runs: Array<Promise<number>> = [];
  const spy = jest.spyOn(handler, 'execute').mockImplementation((event, occurredAt) => {
    const done = handle(event, occurredAt);
    if (event.profileId === profileId && event.version === version) runs.push(done);
    return done;
  });
  return {
    /** Waits until that event was handled (the view written, then the enrollments keeping the profile). */
    async finished(): Promise<void> {
      await eventually(async () => expect(runs).toHaveLength(1));
      await runs[0];
    },
    restore: () => spy.mockRestore(),
  };
}

/**
 * Every event the partner's profile events caused is handled: a later profile event on the same key (partnerId)
 * known to the service, and the enrollments' outbox published (a sentinel, not a pause).
 */
async function settled(programId: string) {
  const marker = bankProfile(w.partnerId, { status: 'APPROVED', name: 'marker' });
  await profileEvent(h, 'ProfileApproved', marker);
  await profileKnown(h, marker);
  await enrollmentEventsSettled(h, { programId }, [w.L3]);
}

describe('a chosen bank profile narrowed so that it no longer serves the location', () => {
  it('after Submit (VALIDATING): ACTION_REQUIRED with the reason and one event, back to the proposal; the event again, or an older one, changes nothing', async () => {
    const { program, defaultBank, shared, narrowed } = await setUp('EUR pending', 'PENDING_VALIDATION');
    const id = await submittedWith(program.programId, shared.profileId, 'VALIDATING');

    await profileEvent(h, 'ProfileUpdated', narrowed);
    const [asked] = await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');
    expect(asked.envelope!.data).toEqual(
      expect.objectContaining({ status: 'ACTION_REQUIRED', previousStatus: 'VALIDATING', reasons: [reason('EUR pending')], missing: [], bankProfileId: shared.profileId }),
    );
    const answer = await get(id);
    expect(answer.body).toEqual(
      expect.objectContaining({ status: 'ACTION_REQUIRED', nextAction: 'CONTINUE', reasons: [reason('EUR pending')], missing: [], completeAt: [] }),
    );
    expect(answer.body).not.toHaveProperty('submittedAt');
    expect(await stored(id)).toMatchObject({ bankChosen: false, bankWithdrawn: true, bankProfileId: shared.profileId });

    // Redelivered, and the older event (still serving L3) delivered late: the view keeps the newest, nothing moves.
    await profileEvent(h, 'ProfileUpdated', narrowed);
    await profileEvent(h, 'ProfileCreated', shared);
    await settled(program.programId);
    // Before any later event: the view still the narrowed one (the older event ignored), the enrollment unmoved.
    expect(await viewOf(shared.profileId)).toMatchObject({ locationIds: [w.L1], version: 3 });
    expect((await get(id)).body).toMatchObject({ status: 'ACTION_REQUIRED', version: answer.body.version });
    // Its validation approved meanwhile: not followed (the enrollment no longer uses it), not ENROLLED.
    await profileEvent(h, 'ProfileApproved', { ...narrowed, status: 'APPROVED' });
    await settled(program.programId);
    expect((await viewOf(shared.profileId))?.locationIds).toEqual([w.L1]);
    expect((await get(id)).body).toMatchObject({ status: 'ACTION_REQUIRED', version: answer.body.version });
    expect(types(id).filter((t) => t === 'EnrollmentActionRequired')).toHaveLength(1);
    expect(types(id)).not.toContain('EnrollmentEnrolled');

    // Continue proposes the location's default again; Submit enrolls with it.
    const continued = await refresh(id);
    expect(continued.body).toMatchObject({ status: 'INVITED', nextAction: 'SUBMIT', proposal: { bankProfileId: defaultBank.profileId }, reasons: [] });
    expect((await submit(id)).body).toMatchObject({ status: 'ENROLLED', proposal: { bankProfileId: defaultBank.profileId } });
  });

  it('after ENROLLED (SPEC: a profile in use changed): the same, keeping enrolledAt; Continue proposes the default, which enrolls', async () => {
    const { program, defaultBank, shared, narrowed } = await setUp('EUR approved');
    const id = await submittedWith(program.programId, shared.profileId, 'ENROLLED');
    const enrolledAt = (await stored(id))!.enrolledAt;

    await profileEvent(h, 'ProfileUpdated', narrowed);
    const [asked] = await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');
    expect(asked.envelope!.data).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', previousStatus: 'ENROLLED', reasons: [reason('EUR approved')] }));
    const after = await stored(id);
    expect(after).toMatchObject({ status: 'ACTION_REQUIRED', bankChosen: false, enrolledAt });
    expect(after).not.toHaveProperty('submittedAt');
    expect(after).not.toHaveProperty('validated');
    await settled(program.programId);
    expect(types(id).filter((t) => t === 'EnrollmentActionRequired')).toHaveLength(1);

    // Continue without a bankProfileId: the default; choosing the narrowed one again is refused (400).
    expect((await refresh(id)).body).toMatchObject({ status: 'INVITED', nextAction: 'SUBMIT', proposal: { bankProfileId: defaultBank.profileId } });
    const again = await refresh(id, { bankProfileId: shared.profileId });
    expect(again.status).toBe(400);
    expect(again.body.errors[0].field).toBe('bankProfileId');
    const submitted = await submit(id);
    expect(submitted.body).toMatchObject({ status: 'ENROLLED', proposal: { bankProfileId: defaultBank.profileId } });
    await waitForEnrollmentEvent(h, id, 'EnrollmentEnrolled', 2);
  });

  it('before Submit: the proposal keeping the choice becomes ACTION_REQUIRED with the reason; a profile still serving the location is left alone', async () => {
    const { program, defaultBank, shared, narrowed } = await setUp('EUR proposal');
    const chosen = await enroll(program.programId, w.L3, { bankProfileId: shared.profileId });
    expect(chosen.body).toMatchObject({ status: 'INVITED', nextAction: 'SUBMIT' });
    const id = chosen.body.enrollmentId;

    // Narrowed, but still serving L3: nothing.
    await profileEvent(h, 'ProfileUpdated', { ...shared, locationIds: [w.L3], version: 3 });
    await settled(program.programId);
    expect((await get(id)).body).toMatchObject({ status: 'INVITED', version: chosen.body.version, proposal: { bankProfileId: shared.profileId } });

    await profileEvent(h, 'ProfileUpdated', { ...narrowed, version: 4 });
    const [asked] = await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');
    expect(asked.envelope!.data).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', previousStatus: 'INVITED', reasons: [reason('EUR proposal')] }));
    await settled(program.programId);
    expect(types(id)).toEqual(['EnrollmentStarted', 'EnrollmentActionRequired']);
    expect((await refresh(id)).body).toMatchObject({ status: 'INVITED', proposal: { bankProfileId: defaultBank.profileId } });
  });

  it("a former default in use since Submit is withdrawn the same way (the location's default moved on, then the profile narrowed)", async () => {
    const { program, defaultBank: former } = await eligibleL3();
    const started = await enroll(program.programId, w.L3);
    const id = started.body.enrollmentId;
    expect((await submit(id)).body).toMatchObject({ status: 'ENROLLED', proposal: { bankProfileId: former.profileId } });
    // L3's default becomes another profile; then the former one stops serving L3.
    const next = bankProfile(w.partnerId, { status: 'APPROVED', name: 'new default', locationIds: [w.L3], version: 2 });
    await profileEvent(h, 'ProfileApproved', next);
    await profileKnown(h, next);
    await defaultBankProfile(h, w.partnerId, w.L3, next.profileId);
    await eventually(async () => expect((await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').findOne({ _id: w.L3 }))?.bankProfileId).toBe(next.profileId));
    await profileEvent(h, 'ProfileUpdated', { ...former, locationIds: [w.L1], version: 2 });
    const [asked] = await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');
    expect(asked.envelope!.data).toEqual(expect.objectContaining({ previousStatus: 'ENROLLED', reasons: [reason(former.name!)] }));
    expect((await refresh(id)).body).toMatchObject({ status: 'INVITED', proposal: { bankProfileId: next.profileId } });
  });
});

describe('every path going on with a kept choice re-checks it', () => {
  it('Submit refuses a kept choice that no longer serves (409, unchanged); Continue withdraws it (ACTION_REQUIRED with the reason), then proposes the default', async () => {
    const { program, defaultBank, shared } = await setUp('EUR stale');
    const chosen = await enroll(program.programId, w.L3, { bankProfileId: shared.profileId });
    const id = chosen.body.enrollmentId;
    // The view narrowed, its enrollments not swept yet (the moment between the handler's two writes; or a choice
    // kept from before this check existed): written straight into the view, no event.
    await h.db.collection('profile_view').updateOne({ _id: shared.profileId } as never, { $set: { locationIds: [w.L1], version: 3 } });

    const refused = await submit(id);
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(refused.body).toEqual(
      expect.objectContaining({ type: expect.stringContaining('bank-profile-not-serving'), reasons: [reason('EUR stale')], bankProfileId: shared.profileId, enrollmentStatus: 'INVITED' }),
    );
    expect((await get(id)).body).toMatchObject({ status: 'INVITED', version: chosen.body.version });

    const withdrawn = await refresh(id);
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.body).toMatchObject({ status: 'ACTION_REQUIRED', nextAction: 'CONTINUE', reasons: [reason('EUR stale')], version: chosen.body.version + 1 });
    await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');
    expect((await refresh(id)).body).toMatchObject({ status: 'INVITED', proposal: { bankProfileId: defaultBank.profileId } });
    expect((await submit(id)).body).toMatchObject({ status: 'ENROLLED' });
  });

  it('Submit again on a submitted enrollment whose profile no longer serves: withdrawn, answered ACTION_REQUIRED', async () => {
    const { program, shared } = await setUp('EUR resubmitted');
    const id = await submittedWith(program.programId, shared.profileId, 'ENROLLED');
    await h.db.collection('profile_view').updateOne({ _id: shared.profileId } as never, { $set: { locationIds: [w.L1], version: 3 } });
    const answer = await submit(id);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: 'ACTION_REQUIRED', reasons: [reason('EUR resubmitted')], nextAction: 'CONTINUE' });
    expect(answer.body).not.toHaveProperty('submittedAt');
  });

  it("a choice narrowed between Enroll's check and its write is withdrawn at once (the answer is where it ends up)", async () => {
    const { program, shared, narrowed } = await setUp('EUR raced');
    const started = await enroll(program.programId, w.L3);
    const id = started.body.enrollmentId;
    const facts = serviceOf(h, EnrollmentsModule, PayoutFacts);
    const handled = handledRuns(shared.profileId, narrowed.version);
    const read = facts.bankProfile.bind(facts);
    let raced = false;
    // Enroll's check read the profile still serving L3: the narrowing is handled right then (view, then the
    // enrollments keeping it: none yet), before Enroll writes the choice.
    const spy = jest.spyOn(facts, 'bankProfile').mockImplementation(async (partnerId, profileId) => {
      const view = await read(partnerId, profileId);
      if (!raced && profileId === shared.profileId) {
        raced = true;
        await profileEvent(h, 'ProfileUpdated', narrowed);
        await handled.finished();
      }
      return view;
    });
    try {
      const answer = await refresh(id, { bankProfileId: shared.profileId });
      expect(raced).toBe(true);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ status: 'ACTION_REQUIRED', reasons: [reason('EUR raced')], proposal: { bankProfileId: shared.profileId } });
      expect(await stored(id)).toMatchObject({ bankChosen: false });
    } finally {
      spy.mockRestore();
      handled.restore();
    }
    await enrollmentEventsSettled(h, { programId: program.programId }, [w.L3]);
    expect(types(id).filter((t) => t === 'EnrollmentActionRequired')).toHaveLength(1);
  });

  it("a default whose profile stopped serving the location before the default's removal arrived: busy for a moment, then not proposed, never submitted", async () => {
    // L3's default (approved), proposed by Enroll; then the profile is narrowed to L1. payout-profiles refuses that
    // while it is L3's default, so L3's default was removed first, but that event (keyed by location) may arrive after
    // the narrowing (keyed by partner): here it has not.
    const { program, defaultBank } = await eligibleL3();
    const started = await enroll(program.programId, w.L3);
    expect(started.body).toMatchObject({ status: 'INVITED', nextAction: 'SUBMIT', proposal: { bankProfileId: defaultBank.profileId } });
    const id = started.body.enrollmentId;
    await profileEvent(h, 'ProfileUpdated', { ...defaultBank, locationIds: [w.L1], version: 2 });
    await eventually(async () => expect((await viewOf(defaultBank.profileId))?.locationIds).toEqual([w.L1]));
    expect((await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').findOne({ _id: w.L3 }))?.bankProfileId).toBe(defaultBank.profileId);

    // Just changed: Submit and Continue answer 409 busy with Retry-After, and change nothing.
    for (const answer of [await submit(id), await refresh(id)]) {
      expect(answer.status).toBe(409);
      expect(answer.body.type).toMatch(/busy$/);
      expect(answer.headers.get('retry-after')).toBe('2');
    }
    expect(await stored(id)).toMatchObject({ status: 'INVITED', version: started.body.version, bankProfileId: defaultBank.profileId });
    expect(await stored(id)).not.toHaveProperty('submittedAt');

    // Still disagreeing a while later (the removal never came): the default is not proposed, nor submitted.
    const longAgo = new Date(Date.now() - 60_000);
    await h.db.collection('profile_view').updateOne({ _id: defaultBank.profileId } as never, { $set: { updatedAt: longAgo } });
    await h.db.collection('default_bank_profile_view').updateOne({ _id: w.L3 } as never, { $set: { changedAt: longAgo, receivedAt: longAgo } });
    const refused = await submit(id);
    expect(refused.status).toBe(422);
    expect(refused.body.missing).toContain('BANK_PROFILE_MISSING');
    expect(await stored(id)).toMatchObject({ status: 'INVITED', version: started.body.version });
    const continued = await refresh(id);
    expect(continued.body).toMatchObject({ status: 'ACTION_REQUIRED', nextAction: 'CONTINUE' });
    expect(continued.body.missing).toContain('BANK_PROFILE_MISSING');
    expect(continued.body.proposal.bankProfileId).toBeNull();
  });

  it("a default assigned before its profile's first event arrived: 409 busy, nothing written; then it is proposed", async () => {
    const { program } = await eligibleL3();
    const unknown = bankProfile(w.partnerId, { status: 'APPROVED', name: 'USD new', locationIds: [w.L3], version: 1 });
    await defaultBankProfile(h, w.partnerId, w.L3, unknown.profileId);
    await eventually(async () => expect((await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').findOne({ _id: w.L3 }))?.bankProfileId).toBe(unknown.profileId));
    const busy = await enroll(program.programId, w.L3);
    expect(busy.status).toBe(409);
    expect(await stored(enrollmentId({ programId: program.programId, locationId: w.L3, fiscalYear: CURRENT_FY }))).toBeNull();
    await profileEvent(h, 'ProfileApproved', unknown);
    await profileKnown(h, unknown);
    const started = await enroll(program.programId, w.L3);
    expect(started.status).toBe(201);
    expect(started.body.proposal).toMatchObject({ bankProfileId: unknown.profileId });
  });

  it('a default assigned before the widening that lets it serve the location arrived: 409 busy, nothing written; then it is proposed', async () => {
    const { program } = await eligibleL3();
    // Serving L1 only, then widened to L3 and made L3's default: the default's event arrives first.
    const widened = bankProfile(w.partnerId, { status: 'APPROVED', name: 'EUR widened', currency: 'EUR', locationIds: [w.L1], version: 2 });
    await profileEvent(h, 'ProfileApproved', widened);
    await profileKnown(h, widened);
    await defaultBankProfile(h, w.partnerId, w.L3, widened.profileId, 'EUR');
    await eventually(async () => expect((await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').findOne({ _id: w.L3 }))?.bankProfileId).toBe(widened.profileId));

    const busy = await enroll(program.programId, w.L3);
    expect(busy.status).toBe(409);
    expect(busy.headers.get('retry-after')).toBe('2');
    expect(await stored(enrollmentId({ programId: program.programId, locationId: w.L3, fiscalYear: CURRENT_FY }))).toBeNull();

    await profileEvent(h, 'ProfileUpdated', { ...widened, locationIds: [w.L1, w.L3], version: 3 });
    await eventually(async () => expect((await viewOf(widened.profileId))?.locationIds).toEqual([w.L1, w.L3]));
    const started = await enroll(program.programId, w.L3);
    expect(started.status).toBe(201);
    expect(started.body.proposal).toMatchObject({ bankProfileId: widened.profileId });
    await enrollmentEventsSettled(h, { programId: program.programId }, [w.L3]);
    expect(types(started.body.enrollmentId)[0]).toBe('EnrollmentStarted');
  });

  it("a default assigned in a currency its profile's newest event has not brought yet: 409 busy, nothing written; then it is proposed in that currency", async () => {
    const { program } = await eligibleL3();
    // A EUR profile serving L3, changed to USD and then made L3's default in USD: the default's event arrives first.
    const changed = bankProfile(w.partnerId, { status: 'APPROVED', name: 'EUR then USD', currency: 'EUR', locationIds: [w.L3], version: 2 });
    await profileEvent(h, 'ProfileApproved', changed);
    await profileKnown(h, changed);
    await defaultBankProfile(h, w.partnerId, w.L3, changed.profileId, 'USD');
    await eventually(async () => expect((await h.db.collection<{ _id: string; currency: string }>('default_bank_profile_view').findOne({ _id: w.L3 }))?.currency).toBe('USD'));

    const busy = await enroll(program.programId, w.L3);
    expect(busy.status).toBe(409);
    expect(busy.body.type).toMatch(/busy$/);
    expect(await stored(enrollmentId({ programId: program.programId, locationId: w.L3, fiscalYear: CURRENT_FY }))).toBeNull();

    await profileEvent(h, 'ProfileUpdated', { ...changed, currency: 'USD', revision: 2, status: 'PENDING_VALIDATION', version: 3 });
    await eventually(async () => expect((await viewOf(changed.profileId))?.currency).toBe('USD'));
    const started = await enroll(program.programId, w.L3);
    expect(started.status).toBe(201);
    expect(started.body.proposal).toMatchObject({ bankProfileId: changed.profileId });
  });

  // Marked by an early run, its year still running: the withdrawal is skipped (not built for a marked enrollment), and
  // it still follows its profiles' validation, as any marked enrollment does until its year ends.
  it('continued by an early run, then narrowed: it keeps the profile and still follows its validation (edited: VALIDATING; rejected: ACTION_REQUIRED)', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    await approvedProfiles(h, w.partnerId, w.L3);
    const shared = bankProfile(w.partnerId, { status: 'APPROVED', name: 'EUR marked', currency: 'EUR', locationIds: [w.L1, w.L3], version: 2 });
    await profileEvent(h, 'ProfileApproved', shared);
    await profileKnown(h, shared);
    const id = await submittedWith(program.programId, shared.profileId, 'ENROLLED');
    const summary = await call(h, 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: CURRENT_FY, programId: program.programId } });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 1, renewed: 1 }));
    expect(await stored(id)).toMatchObject({ status: 'ENROLLED', rollover: expect.anything() });

    const narrowed = { ...shared, locationIds: [w.L1], version: 3 };
    await profileEvent(h, 'ProfileUpdated', narrowed);
    await profileKnown(h, narrowed);
    // Its admins of L1 edit it: a new revision, validated again, then rejected.
    const edited = { ...narrowed, revision: shared.revision + 1, status: 'PENDING_VALIDATION' as const, version: 4 };
    await profileEvent(h, 'ProfileUpdated', edited);
    await waitForEnrollmentEvent(h, id, 'EnrollmentValidating');
    expect(await stored(id)).toMatchObject({ status: 'VALIDATING', bankProfileId: shared.profileId });
    await profileEvent(h, 'ProfileActionRequired', { ...edited, status: 'ACTION_REQUIRED', reasons: ['Bank statement missing'], version: 5 });
    await eventually(async () => expect(await stored(id)).toMatchObject({ status: 'ACTION_REQUIRED', bankProfileId: shared.profileId }));
  });

  it('the rollover continues an enrollment whose chosen profile no longer serves into ACTION_REQUIRED with the reason (not renewed); Continue there proposes the default', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const { bank: defaultBank } = await approvedProfiles(h, w.partnerId, w.L3);
    const shared = bankProfile(w.partnerId, { status: 'APPROVED', name: 'EUR rollover', currency: 'EUR', locationIds: [w.L1, w.L3], version: 2 });
    await profileEvent(h, 'ProfileApproved', shared);
    await profileKnown(h, shared);
    const id = await submittedWith(program.programId, shared.profileId, 'ENROLLED');
    // Narrowed in the view only (a choice kept from before this check existed, or the sweep not there yet): the
    // rollover's own decision must see it.
    await h.db.collection('profile_view').updateOne({ _id: shared.profileId } as never, { $set: { locationIds: [w.L1], version: 3 } });
    expect(await stored(id)).toMatchObject({ status: 'ENROLLED', bankChosen: true });

    // An operator's early run continues the ENROLLED ones.
    const summary = await call(h, 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: CURRENT_FY, programId: program.programId } });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 1, renewed: 0, actionRequired: 1, expired: 0, conflicts: 0 }));
    const nextId = enrollmentId({ programId: program.programId, locationId: w.L3, fiscalYear: NEXT_FY });
    const [asked] = await waitForEnrollmentEvent(h, nextId, 'EnrollmentActionRequired');
    expect(asked.envelope!.data).toEqual(
      expect.objectContaining({ status: 'ACTION_REQUIRED', fiscalYear: NEXT_FY, fromFiscalYear: CURRENT_FY, reasons: [reason('EUR rollover')], missing: [] }),
    );
    const continued = await stored(nextId);
    expect(continued).toMatchObject({ status: 'ACTION_REQUIRED', bankChosen: false, renewedFrom: id });
    expect(continued).not.toHaveProperty('submittedAt');
    expect(await stored(id)).toMatchObject({ status: 'ENROLLED', rollover: expect.objectContaining({ outcome: 'ACTION_REQUIRED' }) });
    expect((await refresh(nextId)).body).toMatchObject({ status: 'INVITED', nextAction: 'SUBMIT', proposal: { bankProfileId: defaultBank.profileId } });
    await enrollmentEventsSettled(h, { programId: program.programId }, [w.L3]);
    expect(types(nextId)).toEqual(['EnrollmentActionRequired', 'EnrollmentStarted']);
  });

  it("a chosen profile narrowed between the rollover's decision and its insert: the continuation is withdrawn right after it (one query per batch)", async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const { bank: defaultBank } = await approvedProfiles(h, w.partnerId, w.L3);
    const shared = bankProfile(w.partnerId, { status: 'APPROVED', name: 'EUR rollover race', currency: 'EUR', locationIds: [w.L1, w.L3], version: 2 });
    await profileEvent(h, 'ProfileApproved', shared);
    await profileKnown(h, shared);
    const id = await submittedWith(program.programId, shared.profileId, 'ENROLLED');
    const narrowed = { ...shared, locationIds: [w.L1], version: 3 };
    const context = h.service.app.get(RenewalContext, { strict: false });
    const load = context.load.bind(context);
    const handled = handledRuns(shared.profileId, narrowed.version);
    let raced = false;
    // The batch read the views (still serving L3) and decided RENEWED: the narrowing is handled right then (view, then
    // the enrollments keeping it: the CURRENT_FY one, withdrawn; the NEXT_FY one does not exist yet).
    const spy = jest.spyOn(context, 'load').mockImplementation(async (batch, ...rest) => {
      const ctx = await load(batch, ...rest);
      if (!raced && batch.some((e) => e._id === id)) {
        raced = true;
        await profileEvent(h, 'ProfileUpdated', narrowed);
        await handled.finished();
      }
      return ctx;
    });
    let summary;
    try {
      summary = await call(h, 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: CURRENT_FY, programId: program.programId } });
    } finally {
      spy.mockRestore();
      handled.restore();
    }
    expect(raced).toBe(true);
    // Counted and marked as it ended up (withdrawn right after its insert), not as it was decided.
    expect(summary.body).toEqual(expect.objectContaining({ examined: 1, renewed: 0, actionRequired: 1, conflicts: 0 }));
    expect(await stored(id)).toMatchObject({ rollover: expect.objectContaining({ outcome: 'ACTION_REQUIRED' }) });
    const nextId = enrollmentId({ programId: program.programId, locationId: w.L3, fiscalYear: NEXT_FY });
    const continued = await stored(nextId);
    expect(continued).toMatchObject({ status: 'ACTION_REQUIRED', bankChosen: false, bankWithdrawn: true, renewedAs: 'ACTION_REQUIRED', reasons: [reason('EUR rollover race')], renewedFrom: id });
    expect(continued).not.toHaveProperty('submittedAt');
    expect((await refresh(nextId)).body).toMatchObject({ status: 'INVITED', proposal: { bankProfileId: defaultBank.profileId } });
    await enrollmentEventsSettled(h, { programId: program.programId }, [w.L3]);
    expect(types(nextId)).toEqual(['EnrollmentRenewed', 'EnrollmentActionRequired', 'EnrollmentStarted']);
    expect(types(id).filter((t) => t === 'EnrollmentActionRequired')).toHaveLength(1);
  });

  it('a rerun re-checks the continuations it resumes: one whose chosen profile stopped serving meanwhile is withdrawn, and marked so', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const { bank: defaultBank } = await approvedProfiles(h, w.partnerId, w.L3);
    const shared = bankProfile(w.partnerId, { status: 'APPROVED', name: 'EUR resumed', currency: 'EUR', locationIds: [w.L1, w.L3], version: 2 });
    await profileEvent(h, 'ProfileApproved', shared);
    await profileKnown(h, shared);
    const id = await submittedWith(program.programId, shared.profileId, 'ENROLLED');
    const run = () => call(h, 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: CURRENT_FY, programId: program.programId } });
    expect((await run()).body).toEqual(expect.objectContaining({ renewed: 1 }));
    const nextId = enrollmentId({ programId: program.programId, locationId: w.L3, fiscalYear: NEXT_FY });
    expect(await stored(nextId)).toMatchObject({ status: 'ENROLLED', bankChosen: true, renewedFrom: id });
    // As if that run was killed before its marks, and the profile narrowed in the view while its sweep could not see
    // the continuation yet (written straight into the view, no event).
    await h.db.collection<Enrollment>('enrollments').updateOne({ _id: id }, { $unset: { rollover: '' } });
    await h.db.collection('profile_view').updateOne({ _id: shared.profileId } as never, { $set: { locationIds: [w.L1], version: 3 } });

    const rerun = await run();
    expect(rerun.body).toEqual(expect.objectContaining({ examined: 1, resumed: 1, renewed: 0, conflicts: 0 }));
    expect(await stored(nextId)).toMatchObject({ status: 'ACTION_REQUIRED', bankChosen: false, bankWithdrawn: true, reasons: [reason('EUR resumed')] });
    expect(await stored(id)).toMatchObject({ rollover: expect.objectContaining({ outcome: 'ACTION_REQUIRED' }) });
    await waitForEnrollmentEvent(h, nextId, 'EnrollmentActionRequired');
    expect((await refresh(nextId)).body).toMatchObject({ status: 'INVITED', proposal: { bankProfileId: defaultBank.profileId } });
  });
});

describe('a withdrawn bank profile stays withdrawn until the admin continues', () => {
  it('Submit refuses (409) until Continue; widened again later, the rollover does not renew with it (ACTION_REQUIRED, Submit refused there too)', async () => {
    const { program, defaultBank, shared, narrowed } = await setUp('EUR widened');
    const id = await submittedWith(program.programId, shared.profileId, 'ENROLLED');
    await profileEvent(h, 'ProfileUpdated', narrowed);
    await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');
    // Serving L3 again: the withdrawal stands.
    await profileEvent(h, 'ProfileUpdated', { ...shared, locationIds: [w.L1, w.L3], version: 4 });
    await settled(program.programId);
    expect(await viewOf(shared.profileId)).toMatchObject({ locationIds: [w.L1, w.L3], version: 4 });
    const withdrawn = await get(id);
    expect(withdrawn.body).toMatchObject({ status: 'ACTION_REQUIRED', nextAction: 'CONTINUE', reasons: [reason('EUR widened')] });

    // Submit would submit the location's default, which the admin never saw: refused, nothing changes.
    const refused = await submit(id);
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual(expect.objectContaining({ type: expect.stringContaining('bank-profile-not-serving'), reasons: [reason('EUR widened')] }));
    expect((await get(id)).body).toMatchObject({ status: 'ACTION_REQUIRED', version: withdrawn.body.version });

    // The rollover (an operator's early run: it was ENROLLED once): not renewed with the widened profile.
    const summary = await call(h, 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: CURRENT_FY, programId: program.programId } });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 1, renewed: 0, actionRequired: 1 }));
    const nextId = enrollmentId({ programId: program.programId, locationId: w.L3, fiscalYear: NEXT_FY });
    expect(await stored(nextId)).toMatchObject({ status: 'ACTION_REQUIRED', bankChosen: false, bankWithdrawn: true, reasons: [reason('EUR widened')] });
    expect(await stored(id)).toMatchObject({ rollover: expect.objectContaining({ outcome: 'ACTION_REQUIRED' }) });
    expect((await submit(nextId)).status).toBe(409);
    const continued = await refresh(nextId);
    expect(continued.body).toMatchObject({ status: 'INVITED', nextAction: 'SUBMIT', proposal: { bankProfileId: defaultBank.profileId } });
    expect(await stored(nextId)).not.toHaveProperty('bankWithdrawn');
    expect((await submit(nextId)).body).toMatchObject({ status: 'ENROLLED', proposal: { bankProfileId: defaultBank.profileId } });
  });

  it("a withdrawal landing between Submit's attempts: the next attempt refuses (409), it does not submit the default", async () => {
    const { program, shared, narrowed } = await setUp('EUR submit race');
    const chosen = await enroll(program.programId, w.L3, { bankProfileId: shared.profileId });
    const id = chosen.body.enrollmentId;
    const facts = serviceOf(h, EnrollmentsModule, PayoutFacts);
    const handled = handledRuns(shared.profileId, narrowed.version);
    const read = facts.proposal.bind(facts);
    let raced = false;
    // Submit's first attempt read the proposal (the choice, still serving L3); the narrowing is handled right then
    // (view, then the enrollment: withdrawn), so the attempt's guarded write misses and the next one reads it again.
    const spy = jest.spyOn(facts, 'proposal').mockImplementation(async (...args) => {
      const proposal = await read(...args);
      if (!raced && args[2] === shared.profileId) {
        raced = true;
        await profileEvent(h, 'ProfileUpdated', narrowed);
        await handled.finished();
      }
      return proposal;
    });
    let answer;
    try {
      answer = await submit(id);
    } finally {
      spy.mockRestore();
      handled.restore();
    }
    expect(raced).toBe(true);
    expect(answer.status).toBe(409);
    expect(answer.body).toEqual(expect.objectContaining({ reasons: [reason('EUR submit race')], enrollmentStatus: 'ACTION_REQUIRED' }));
    const after = await stored(id);
    expect(after).toMatchObject({ status: 'ACTION_REQUIRED', bankWithdrawn: true });
    expect(after).not.toHaveProperty('submittedAt');
  });
});
