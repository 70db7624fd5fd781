/**
 * Program changes and what they do to the enrollments already there. An open program (requiresEligibility false)
 * ignores ineligible decisions, which the eligibility view keeps; when the operator makes it require eligibility,
 * the enrollments that such a decision would have ended (never completed, the location's decision for their fiscal
 * year not eligible) end INELIGIBLE, once, with the decision's reasons and one EnrollmentIneligible. Completed ones
 * and those of locations without a decision stay. This happens when the service consumes its own ProgramUpdated, so
 * it is retried (a failure halfway through is finished by the retry). The real broker and database.
 */
import { Envelope, nextFiscalYear, Topics } from '@lib/contracts';
import { eventually, groupCaughtUp, outboxSettled } from '@lib/testing';
import { Type } from '@nestjs/common';
import { Enrollment } from '../src/enrollments/enrollment.schema';
import { EnrollmentsModule } from '../src/enrollments/enrollments.module';
import { EnrollmentsRepository } from '../src/enrollments/enrollments.repository';
import { EndIneligibleProgramEnrollments } from '../src/enrollments/usecases/end-ineligible-program-enrollments.use-case';
import { FollowSubmitted } from '../src/enrollments/usecases/follow-submitted.use-case';
import { ProgramsModule } from '../src/programs/programs.module';
import { ReadPrograms } from '../src/programs/usecases/read-programs.use-case';
import { MarkIneligible } from '../src/enrollments/usecases/mark-ineligible.use-case';
import { RecordEligibilityDecision } from '../src/enrollments/usecases/record-eligibility-decision.use-case';
import { enrollmentId } from '../src/common/ids';
import { randomUUID } from 'node:crypto';
import {
  approvedProfiles,
  bankProfile,
  call,
  createProgram,
  eligibility,
  eligibilityKnown,
  enrollmentEvents,
  issueInvitation,
  enrollmentEventsSettled,
  Harness,
  defaultBankProfile,
  profileEvent,
  profileKnown,
  RULES,
  taxProfile,
  waitForEnrollmentEvent,
  serviceOf,
  withHarness,
  World,
} from './support';

jest.setTimeout(120_000);

let h: Harness;
let w: World;
withHarness((harness, world) => ((h = harness), (w = world)));

type Program = Awaited<ReturnType<typeof createProgram>>;
type Admin = 'admin' | 'adminOfOther';

const service = <T>(module: Type<unknown>, type: Type<T>): T => serviceOf(h, module, type);

/** The Incentives admin of each location of the world: `admin` for L1 and L3, `adminOfOther` for L2. */
const adminOf = (locationId: string): Admin => (locationId === w.L2 ? 'adminOfOther' : 'admin');

async function enroll(program: Program, locationId: string): Promise<string> {
  const answer = await call(h, 'POST', '/v1/enrollments', { token: await w.token(adminOf(locationId)), body: { programId: program.programId, locationId } });
  expect(answer.status).toBe(201);
  return answer.body.enrollmentId;
}

/** Approved profiles, Enroll, Submit: ENROLLED at once (a completed enrollment). */
async function completed(program: Program, locationId: string): Promise<string> {
  await approvedProfiles(h, w.partnerId, locationId);
  const id = await enroll(program, locationId);
  const submitted = await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token: await w.token(adminOf(locationId)) });
  expect(submitted.body.status).toBe('ENROLLED');
  return id;
}

/** An ineligible decision for the program's fiscal year, once the eligibility view holds it. */
async function notEligible(program: Program, locationId: string, reasons: string[]): Promise<Envelope> {
  const decision = await eligibility(h, w, program.programId, locationId, false, program.fiscalYear, reasons);
  await eligibilityKnown(h, program.programId, locationId, program.fiscalYear, false);
  return decision;
}

const requireEligibility = (program: Program, revision: number) =>
  call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { requiresEligibility: true }, headers: { 'if-match': `"${revision}"` } });

const stored = (id: string) => h.db.collection<Enrollment>('enrollments').findOne({ _id: id });
const eventsOf = (id: string) => enrollmentEvents(h, id).map((m) => m.envelope! as { eventId: string; type: string; data: Record<string, any> });

/**
 * For "nothing changed, nothing was published": the consumer group has handled everything on the topics these tests
 * write (it commits only once a handler's writes, outbox entries included, are durable: the eligibility decisions,
 * and the program's own ProgramUpdated with its sweep), the program's own events are on the watch, and then every
 * event the service wrote about the program's enrollments is on the watch (sentinels through their partitions).
 */
async function settle(program: Program, locationIds: string[]): Promise<void> {
  await outboxSettled({
    collection: h.db.collection('programs'),
    filter: { _id: program.programId },
    kafka: h.kafka,
    watch: h.watch,
    topic: Topics.programs,
    keys: [program.programId],
  });
  await groupCaughtUp(h.service.env.KAFKA_GROUP_ID, [Topics.eligibility, Topics.programs]);
  await enrollmentEventsSettled(h, { programId: program.programId }, locationIds);
}

/** What must not change: the stored enrollment (status, reasons, version) and the events published about it. */
async function state(id: string) {
  const row = await stored(id);
  return { status: row?.status, reasons: row?.reasons, version: row?.version, events: eventsOf(id).map((e) => e.eventId) };
}

const programUpdates = (program: Program) =>
  h.watch.ofType<{ program: { programId: string; revision: number } }>('ProgramUpdated', (m) => m.envelope?.data.program.programId === program.programId);

describe('an open program changed to require eligibility', () => {
  it('ends INELIGIBLE, with one event and the reasons, the unfinished enrollment of a location decided not eligible; the completed one and the one without a decision stay; the same update again changes nothing', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const l2 = await completed(program, w.L2);
    // No profiles at L1 and L3: started, ACTION_REQUIRED (never completed).
    const l1 = await enroll(program, w.L1);
    const l3 = await enroll(program, w.L3);
    const l1Decision = await notEligible(program, w.L1, ['Volume below the threshold.']);
    await notEligible(program, w.L2, ['Agreement tier not eligible.']);

    // Open: the decisions are kept, the enrollments go on.
    await settle(program, [w.L1, w.L2, w.L3]);
    const before = { l1: await state(l1), l2: await state(l2), l3: await state(l3) };
    expect([before.l1.status, before.l2.status, before.l3.status]).toEqual(['ACTION_REQUIRED', 'ENROLLED', 'ACTION_REQUIRED']);

    const changed = await requireEligibility(program, program.revision);
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ requiresEligibility: true, revision: program.revision + 1 });
    const [ineligible] = await waitForEnrollmentEvent(h, l1, 'EnrollmentIneligible');
    await settle(program, [w.L1, w.L2, w.L3]);

    expect(await stored(l1)).toMatchObject({ status: 'INELIGIBLE', reasons: ['Volume below the threshold.'], missing: [], version: before.l1.version! + 1 });
    expect(eventsOf(l1).slice(before.l1.events.length).map((e) => e.type)).toEqual(['EnrollmentIneligible']);
    expect(ineligible.key).toBe(w.L1);
    // Naming the decision it was ended on (the invitations service offers no Enroll on an earlier eligible one).
    expect(ineligible.envelope!.data).toMatchObject({
      status: 'INELIGIBLE',
      previousStatus: 'ACTION_REQUIRED',
      reasons: ['Volume below the threshold.'],
      decision: { eventId: l1Decision.eventId, decidedAt: new Date(l1Decision.occurredAt).toISOString(), position: { partition: expect.any(Number), offset: expect.stringMatching(/^\d+$/) } },
    });
    expect(await state(l2)).toEqual(before.l2);
    expect(await state(l3)).toEqual(before.l3);
    const answer = await call(h, 'GET', `/v1/enrollments/${l1}`, { token: await w.token('admin') });
    expect(answer.body).toMatchObject({ status: 'INELIGIBLE', statusLabel: 'Inactive / Ineligible', nextAction: null });

    // The same update again: no new revision, no ProgramUpdated, nothing changes.
    const after = { l1: await state(l1), l2: await state(l2), l3: await state(l3) };
    const again = await requireEligibility(program, program.revision + 1);
    expect(again.status).toBe(200);
    expect(again.body.revision).toBe(program.revision + 1);
    // And its ProgramUpdated delivered again (a redelivery after a crash): the sweep finds nothing more to end.
    expect(await service(EnrollmentsModule, EndIneligibleProgramEnrollments).execute(program.programId, program.revision + 1)).toBe(0);
    await settle(program, [w.L1, w.L2, w.L3]);
    expect(programUpdates(program).map((m) => m.envelope!.data.program.revision)).toEqual([program.revision + 1]);
    expect({ l1: await state(l1), l2: await state(l2), l3: await state(l3) }).toEqual(after);
  });

  // The sweep reads a page of VALIDATING enrollments, the profiles of one are approved meanwhile: ENROLLED after the
  // sweep's read, and the sweep leaves completed ones. The approval, reading the program after its write, ends it.
  it('an enrollment being validated whose profiles are approved after the change, the sweep past it, ends INELIGIBLE all the same', async () => {
    // L2 (L1 and L3 have no tax profile in this file until its last test): profiles pending validation, its default.
    const program = await createProgram(h, { requiresEligibility: false });
    const bank = bankProfile(w.partnerId);
    const tax = taxProfile(w.partnerId, w.L2);
    await profileEvent(h, 'ProfileCreated', bank);
    await profileEvent(h, 'ProfileCreated', tax);
    await defaultBankProfile(h, w.partnerId, w.L2, bank.profileId);
    await profileKnown(h, bank);
    await profileKnown(h, tax);
    await eventually(async () => expect((await h.db.collection('default_bank_profile_view').findOne({ _id: w.L2 as never }))?.bankProfileId).toBe(bank.profileId));
    const id = await enroll(program, w.L2);
    const submitted = await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token: await w.token('adminOfOther') });
    expect(submitted.body.status).toBe('VALIDATING');
    await notEligible(program, w.L2, ['Volume below the threshold.']);
    await settle(program, [w.L2]);

    // The sweep has already read its page (it ends nothing here): the approval comes after it.
    const sweep = jest.spyOn(service(EnrollmentsModule, EndIneligibleProgramEnrollments), 'execute').mockResolvedValue(0);
    try {
      expect((await requireEligibility(program, program.revision)).status).toBe(200);
      await settle(program, [w.L2]);
      expect(await stored(id)).toMatchObject({ status: 'VALIDATING' });
      await profileEvent(h, 'ProfileApproved', { ...bank, status: 'APPROVED' });
      await profileEvent(h, 'ProfileApproved', { ...tax, status: 'APPROVED' });
      await waitForEnrollmentEvent(h, id, 'EnrollmentIneligible');
    } finally {
      sweep.mockRestore();
    }
    const ended = await stored(id);
    expect(ended).toMatchObject({ status: 'INELIGIBLE', reasons: ['Volume below the threshold.'] });
    expect(ended?.enrolledAt).toBeUndefined(); // no longer completed: Enroll starts it again once eligible
    expect(eventsOf(id).map((e) => e.type).slice(-2)).toEqual(['EnrollmentEnrolled', 'EnrollmentIneligible']);
  });

  it('a sweep that fails halfway (one enrollment ended, the next not) is finished by the retry of its ProgramUpdated: each ends once, with one event', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const l1 = await enroll(program, w.L1);
    const l3 = await enroll(program, w.L3);
    await notEligible(program, w.L1, ['Volume below the threshold.']);
    await notEligible(program, w.L3, ['Not in the program region.']);
    await settle(program, [w.L1, w.L3]);

    const markIneligible = service(EnrollmentsModule, MarkIneligible);
    const original = markIneligible.execute.bind(markIneligible);
    const calls: string[] = [];
    let failed = false;
    const spy = jest.spyOn(markIneligible, 'execute').mockImplementation(async (decision) => {
      if (decision.programId !== program.programId) return original(decision);
      calls.push(decision.locationId);
      if (decision.locationId === w.L3 && !failed) {
        // The crash: L1 is ended (its write and event durable), L3 not yet.
        await eventually(async () => expect((await stored(l1))?.status).toBe('INELIGIBLE'));
        failed = true;
        throw new Error('simulated crash in the middle of the sweep');
      }
      return original(decision);
    });
    try {
      expect((await requireEligibility(program, program.revision)).status).toBe(200);
      await waitForEnrollmentEvent(h, l3, 'EnrollmentIneligible');
      await settle(program, [w.L1, w.L3]);
    } finally {
      spy.mockRestore();
    }

    expect(failed).toBe(true);
    // The retry selected only L3 (L1, INELIGIBLE, is no longer selected).
    expect(calls.sort()).toEqual([w.L1, w.L3, w.L3].sort());
    expect(await stored(l1)).toMatchObject({ status: 'INELIGIBLE', reasons: ['Volume below the threshold.'] });
    expect(await stored(l3)).toMatchObject({ status: 'INELIGIBLE', reasons: ['Not in the program region.'] });
    for (const id of [l1, l3]) expect(eventsOf(id).filter((e) => e.type === 'EnrollmentIneligible')).toHaveLength(1);
  });

  it('an eligible decision handled while the sweep ends an enrollment only invited (after its read of the view) leaves it INVITED', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    await issueInvitation(h, w, program, w.L1);
    const id = enrollmentId({ programId: program.programId, locationId: w.L1, fiscalYear: program.fiscalYear });
    await eventually(async () => expect((await stored(id))?.status).toBe('INVITED'));
    await notEligible(program, w.L1, ['Volume below the threshold.']);
    await settle(program, [w.L1]);

    const markIneligible = service(EnrollmentsModule, MarkIneligible);
    const decide = service(EnrollmentsModule, RecordEligibilityDecision);
    const original = markIneligible.execute.bind(markIneligible);
    let raced = false;
    let statusAfterDecision: string | undefined;
    // The sweep read the view (not eligible) and is about to end the enrollment: the newer eligible decision is handled
    // right then (the view written; the enrollment, still INVITED, has nothing to reopen). What it finds is asserted
    // below: an expect here would fail the handler (retried), not the test.
    const spy = jest.spyOn(markIneligible, 'execute').mockImplementation(async (decision) => {
      if (!raced && decision.programId === program.programId && decision.locationId === w.L1) {
        raced = true;
        await decide.execute({ ...decision, eligible: true, reasons: [] }, new Date(), randomUUID());
        statusAfterDecision = (await stored(id))?.status;
      }
      return original(decision);
    });
    try {
      expect((await requireEligibility(program, program.revision)).status).toBe(200);
      await waitForEnrollmentEvent(h, id, 'EnrollmentIneligible');
      await settle(program, [w.L1]);
    } finally {
      spy.mockRestore();
    }
    expect([raced, statusAfterDecision]).toEqual([true, 'INVITED']);
    // Ended on the decision read before, then invited again on the newest one.
    expect(await stored(id)).toMatchObject({ status: 'INVITED', reasons: [] });
    expect(eventsOf(id).map((e) => e.type).slice(-2)).toEqual(['EnrollmentIneligible', 'EnrollmentInvited']);
  });

  it("does not end an enrollment on a kept decision naming another partner (kept while the location was not known), even when the view's latest decision is the owner's", async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const l1 = await enroll(program, w.L1);
    const l3 = await enroll(program, w.L3);
    await notEligible(program, w.L1, ['Volume below the threshold.']);
    // L3's view as one would hold it had another partner's decision for this year been kept before identity told of
    // L3, and the owner's for another year come since (the view names the owner).
    await h.db.collection('eligibility_view').insertOne({
      _id: `${program.programId}|${w.L3}`,
      programId: program.programId,
      locationId: w.L3,
      partnerId: w.partnerId,
      years: {
        [program.fiscalYear]: { eligible: false, reasons: ['Not this partner.'], decidedAt: new Date(), eventId: `wrong-${program.programId}`, partnerId: w.otherPartnerId },
        FY20: { eligible: true, reasons: [], decidedAt: new Date(), eventId: `owner-${program.programId}`, partnerId: w.partnerId },
      },
    } as never);
    await settle(program, [w.L1, w.L3]);
    const before = await state(l3);

    expect((await requireEligibility(program, program.revision)).status).toBe(200);
    await waitForEnrollmentEvent(h, l1, 'EnrollmentIneligible');
    await settle(program, [w.L1, w.L3]);
    expect((await stored(l1))?.status).toBe('INELIGIBLE');
    expect(await state(l3)).toEqual(before);
  });
});

/** An open program with `rules`, and an approved bank profile the default of each of `locations` (their views settled). */
async function programWithApprovedDefault(rules: typeof RULES, locations: string[]) {
  const program = await createProgram(h, { requiresEligibility: false, payoutRules: rules });
  const bank = bankProfile(w.partnerId, { status: 'APPROVED' });
  await profileEvent(h, 'ProfileApproved', bank);
  await profileKnown(h, bank);
  for (const locationId of locations) await defaultBankProfile(h, w.partnerId, locationId, bank.profileId);
  await eventually(async () => {
    const views = await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').find({ _id: { $in: locations } }).toArray();
    expect(views.map((v) => v.bankProfileId)).toEqual(locations.map(() => bank.profileId));
  });
  return { program, bank };
}

describe('a program changed to require a tax profile', () => {
  it('an enrollment submitted without one takes up the location\'s tax profile: at once on Submit when there is one, on the profile\'s events once it is created', async () => {
    // L1 and L3 have no tax profile in this file (this test comes last): an approved bank profile, their default.
    const { program } = await programWithApprovedDefault({ ...RULES, taxProfileRequired: false }, [w.L1, w.L3]);
    const token = await w.token('admin');
    const submit = (id: string) => call(h, 'POST', `/v1/enrollments/${id}/submit`, { token });
    const [l1, l3] = [await enroll(program, w.L1), await enroll(program, w.L3)];
    for (const id of [l1, l3]) expect((await submit(id)).body).toMatchObject({ status: 'ENROLLED', proposal: { taxProfileId: null } });
    const enrolledAt = { l1: (await stored(l1))!.enrolledAt, l3: (await stored(l3))!.enrolledAt };

    // L1's tax profile is there (approved) before the program requires one; L3 has none.
    const l1Tax = taxProfile(w.partnerId, w.L1, { status: 'APPROVED' });
    await profileEvent(h, 'ProfileApproved', l1Tax);
    await profileKnown(h, l1Tax);
    const patched = await call(h, 'PATCH', `/v1/programs/${program.programId}`, {
      operator: true,
      body: { payoutRules: { ...RULES, taxProfileRequired: true } },
      headers: { 'if-match': `"${program.revision}"` },
    });
    expect(patched.status).toBe(200);

    // Submit again (a re-check): L1 goes on with its location's tax profile, still ENROLLED; L3 misses one.
    expect((await submit(l1)).body).toMatchObject({ status: 'ENROLLED', proposal: { taxProfileId: l1Tax.profileId }, enrolledAt: enrolledAt.l1!.toISOString() });
    expect(await stored(l1)).toMatchObject({ taxProfileId: l1Tax.profileId, validated: { bank: 1, tax: 1 } });
    const missing = await submit(l3);
    expect(missing.body).toMatchObject({ status: 'ACTION_REQUIRED', nextAction: 'CONTINUE', missing: ['TAX_PROFILE_MISSING'], proposal: { taxProfileId: null } });
    await waitForEnrollmentEvent(h, l3, 'EnrollmentActionRequired');

    // L3's admin creates the tax profile: its events reach the enrollment by its location. VALIDATING with it, then
    // ENROLLED once it is approved (enrolledAt kept).
    const l3Tax = taxProfile(w.partnerId, w.L3);
    await profileEvent(h, 'ProfileCreated', l3Tax);
    const [validating] = await waitForEnrollmentEvent(h, l3, 'EnrollmentValidating');
    expect(validating.envelope!.data).toMatchObject({ status: 'VALIDATING', previousStatus: 'ACTION_REQUIRED', taxProfileId: l3Tax.profileId });
    expect(await stored(l3)).toMatchObject({ status: 'VALIDATING', taxProfileId: l3Tax.profileId, missing: [] });
    await profileEvent(h, 'ProfileApproved', { ...l3Tax, status: 'APPROVED' });
    await waitForEnrollmentEvent(h, l3, 'EnrollmentEnrolled', 2);
    expect(await stored(l3)).toMatchObject({ status: 'ENROLLED', taxProfileId: l3Tax.profileId, validated: { bank: 1, tax: 1 }, enrolledAt: enrolledAt.l3 });
    expect((await submit(l3)).body).toMatchObject({ status: 'ENROLLED', proposal: { taxProfileId: l3Tax.profileId } });
  });
});

describe('a program whose payout rules are relaxed', () => {
  it('a submitted enrollment left ACTION_REQUIRED by the stricter rules is taken on by the follow-up pass (FollowSubmitted), with its event', async () => {
    const rules = { ...RULES, taxProfileRequired: false };
    const { program } = await programWithApprovedDefault(rules, [w.L1]);
    const token = await w.token('admin');
    const id = await enroll(program, w.L1);
    const submit = () => call(h, 'POST', `/v1/enrollments/${id}/submit`, { token });
    expect((await submit()).body).toMatchObject({ status: 'ENROLLED' });
    const patch = async (revision: number, allowedCurrencies: string[]) => {
      const answer = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { payoutRules: { ...rules, allowedCurrencies } }, headers: { 'if-match': `"${revision}"` } });
      expect(answer.status).toBe(200);
      return answer.body.revision as number;
    };
    // The bank profile's USD no longer allowed: Submit again (a re-check) leaves it ACTION_REQUIRED.
    const stricter = await patch(program.revision, ['EUR']);
    expect((await submit()).body).toMatchObject({ status: 'ACTION_REQUIRED', missing: ['CURRENCY_NOT_ALLOWED'] });
    await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');

    // USD allowed again: no profile event, no request of the admin; the follow-up pass decides with the rules as they are.
    await patch(stricter, ['USD', 'EUR']);
    await eventually(async () => expect((await service(ProgramsModule, ReadPrograms).find(program.programId))?.payoutRules.allowedCurrencies).toContain('USD'));
    const run = await service(EnrollmentsModule, FollowSubmitted).execute();
    expect(run.complete).toBe(true);
    expect(await stored(id)).toMatchObject({ status: 'ENROLLED', missing: [] });
    await waitForEnrollmentEvent(h, id, 'EnrollmentEnrolled', 2);
  });
});

describe('a program whose payout rules are made stricter', () => {
  it('every ENROLLED enrollment and proposal that no longer meets them is sent to ACTION_REQUIRED by the follow-up pass, with its event; the program revision they were followed at is marked', async () => {
    const rules = { ...RULES, taxProfileRequired: false };
    const { program } = await programWithApprovedDefault(rules, [w.L1, w.L2, w.L3]);
    const token = await w.token('admin');
    const ids = [await enroll(program, w.L1), await enroll(program, w.L3)];
    for (const id of ids) expect((await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token })).body).toMatchObject({ status: 'ENROLLED' });
    // L2's admin has seen the proposal (Submit next) and not submitted yet.
    const proposal = await enroll(program, w.L2);
    expect(await stored(proposal)).toMatchObject({ status: 'INVITED', missing: [] });
    const follow = () => service(EnrollmentsModule, FollowSubmitted).execute();
    // Rules never changed since the program was created: its ENROLLED enrollments are not followed, nothing is marked.
    expect((await follow()).complete).toBe(true);
    expect(await h.db.collection('job_marks').findOne({ _id: `payout-rules-followed:${program.programId}` as never })).toBeNull();

    // The bank profile's USD no longer allowed: no profile event, no request of the admins.
    const patched = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { payoutRules: { ...rules, allowedCurrencies: ['EUR'] } }, headers: { 'if-match': `"${program.revision}"` } });
    expect(patched.status).toBe(200);
    await eventually(async () => expect((await service(ProgramsModule, ReadPrograms).find(program.programId))?.payoutRules.allowedCurrencies).toEqual(['EUR']));
    expect((await follow()).complete).toBe(true);
    for (const id of [...ids, proposal]) {
      expect(await stored(id)).toMatchObject({ status: 'ACTION_REQUIRED', missing: ['CURRENCY_NOT_ALLOWED'] });
      await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');
    }
    expect((await call(h, 'GET', `/v1/enrollments/${proposal}`, { token: await w.token('adminOfOther') })).body).toMatchObject({ nextAction: 'CONTINUE', missing: ['CURRENCY_NOT_ALLOWED'] });
    expect(await h.db.collection('job_marks').findOne({ _id: `payout-rules-followed:${program.programId}` as never })).toMatchObject({ revision: patched.body.revision });

    // Rules changed again, and once more while the pass runs (its first page reads a newer revision than it started
    // with): not marked, so the next run follows them all again under the newest.
    const relaxed = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { payoutRules: rules }, headers: { 'if-match': `"${patched.body.revision}"` } });
    expect(relaxed.status).toBe(200);
    await eventually(async () => expect((await service(ProgramsModule, ReadPrograms).find(program.programId))?.payoutRules.allowedCurrencies).toEqual(rules.allowedCurrencies));
    const repository = service(EnrollmentsModule, EnrollmentsRepository);
    const read = repository.ofProgramIn.bind(repository);
    let changedMidPass = false;
    const spy = jest.spyOn(repository, 'ofProgramIn').mockImplementation(async (programId, ...rest) => {
      if (programId === program.programId && !changedMidPass) {
        changedMidPass = true;
        const again = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { payoutRules: { ...rules, allowedCurrencies: ['USD'] } }, headers: { 'if-match': `"${relaxed.body.revision}"` } });
        expect(again.status).toBe(200);
      }
      return read(programId, ...rest);
    });
    try {
      expect((await follow()).complete).toBe(true);
    } finally {
      spy.mockRestore();
    }
    expect(changedMidPass).toBe(true);
    expect(await h.db.collection('job_marks').findOne({ _id: `payout-rules-followed:${program.programId}` as never })).toMatchObject({ revision: patched.body.revision });
    expect((await follow()).complete).toBe(true);
    expect(await h.db.collection('job_marks').findOne({ _id: `payout-rules-followed:${program.programId}` as never })).toMatchObject({ revision: relaxed.body.revision + 1 });
  });

  it("moved on to the next fiscal year with them: the year's ENROLLED enrollments stay enrolled under their own year's rules", async () => {
    const rules = { ...RULES, taxProfileRequired: false };
    const { program } = await programWithApprovedDefault(rules, [w.L1]);
    const id = await enroll(program, w.L1);
    expect((await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token: await w.token('admin') })).body).toMatchObject({ status: 'ENROLLED' });
    // Every event of the enrollment so far on the watch, before it is read as the state that must not change.
    await settle(program, [w.L1]);
    const before = await state(id);

    // The next year's rules (no more USD) set with the move: they judge its continuation at the rollover, not this year.
    const next = nextFiscalYear(program.fiscalYear);
    const moved = await call(h, 'PATCH', `/v1/programs/${program.programId}`, {
      operator: true,
      body: { fiscalYear: next, payoutRules: { ...rules, allowedCurrencies: ['EUR'] } },
      headers: { 'if-match': `"${program.revision}"` },
    });
    expect(moved.status).toBe(200);
    await eventually(async () => expect((await service(ProgramsModule, ReadPrograms).find(program.programId))?.fiscalYear).toBe(next));
    expect((await service(EnrollmentsModule, FollowSubmitted).execute()).complete).toBe(true);
    await settle(program, [w.L1]);
    expect(await state(id)).toEqual(before);
    expect(await stored(id)).toMatchObject({ status: 'ENROLLED', fiscalYear: program.fiscalYear, missing: [] });
  });

  // The year's own rules changed, then the program moved on before the follow-up ran: the change still concerns the
  // year it left (the pass read only the program's year as it is now, and marked the change followed).
  it("for this year, then moved on to the next before the follow-up ran: the year's ENROLLED enrollments are judged by this year's stricter rules", async () => {
    const rules = { ...RULES, taxProfileRequired: false };
    const { program } = await programWithApprovedDefault(rules, [w.L1]);
    const id = await enroll(program, w.L1);
    expect((await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token: await w.token('admin') })).body).toMatchObject({ status: 'ENROLLED' });
    const stricter = await call(h, 'PATCH', `/v1/programs/${program.programId}`, {
      operator: true,
      body: { payoutRules: { ...rules, allowedCurrencies: ['EUR'] } },
      headers: { 'if-match': `"${program.revision}"` },
    });
    expect(stricter.status).toBe(200);
    const moved = await call(h, 'PATCH', `/v1/programs/${program.programId}`, {
      operator: true,
      body: { fiscalYear: nextFiscalYear(program.fiscalYear) },
      headers: { 'if-match': `"${stricter.body.revision}"` },
    });
    expect(moved.status).toBe(200);
    await eventually(async () => expect((await service(ProgramsModule, ReadPrograms).find(program.programId))?.fiscalYear).toBe(moved.body.fiscalYear));
    expect((await service(EnrollmentsModule, FollowSubmitted).execute()).complete).toBe(true);
    expect(await stored(id)).toMatchObject({ status: 'ACTION_REQUIRED', fiscalYear: program.fiscalYear, missing: ['CURRENCY_NOT_ALLOWED'] });
    await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');
    expect(await h.db.collection('job_marks').findOne({ _id: `payout-rules-followed:${program.programId}` as never })).toMatchObject({ revision: moved.body.revision });
  });

  it("moved on to the next fiscal year with them: the year's enrollments follow their profiles under their own year's rules (an edit validated again: ENROLLED, not ACTION_REQUIRED)", async () => {
    const rules = { ...RULES, taxProfileRequired: false };
    const { program, bank } = await programWithApprovedDefault(rules, [w.L1]);
    const id = await enroll(program, w.L1);
    expect((await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token: await w.token('admin') })).body).toMatchObject({ status: 'ENROLLED' });
    const moved = await call(h, 'PATCH', `/v1/programs/${program.programId}`, {
      operator: true,
      body: { fiscalYear: nextFiscalYear(program.fiscalYear), payoutRules: { ...rules, allowedCurrencies: ['EUR'] } },
      headers: { 'if-match': `"${program.revision}"` },
    });
    expect(moved.status).toBe(200);
    expect(moved.body).not.toHaveProperty('earlierYears'); // the events', not the API's
    await eventually(async () => expect((await service(ProgramsModule, ReadPrograms).find(program.programId))?.fiscalYear).toBe(moved.body.fiscalYear));
    // Its event tells the other services (payout-profiles' readiness) the rules the year it left keeps.
    const [updated] = await h.watch.waitFor(
      (m) => {
        const snapshot = (m.envelope?.data as { program?: { programId: string; revision: number } } | undefined)?.program;
        return m.topic === Topics.programs && snapshot?.programId === program.programId && snapshot.revision === moved.body.revision;
      },
    );
    expect((updated.envelope!.data as { program: unknown }).program).toMatchObject({ earlierYears: [{ fiscalYear: program.fiscalYear, payoutRules: rules }] });

    // Its (USD) bank details edited: back to validation, then approved again.
    const edited = { ...bank, revision: bank.revision + 1, status: 'PENDING_VALIDATION' as const };
    await profileEvent(h, 'ProfileUpdated', edited);
    await eventually(async () => expect(await stored(id)).toMatchObject({ status: 'VALIDATING' }));
    await profileEvent(h, 'ProfileApproved', { ...edited, status: 'APPROVED' });
    await eventually(async () => expect(await stored(id)).toMatchObject({ status: 'ENROLLED', missing: [], validated: expect.objectContaining({ bank: edited.revision }) }));
    // The hourly follow-up judges it by the same rules.
    expect((await service(EnrollmentsModule, FollowSubmitted).execute()).complete).toBe(true);
    expect(await stored(id)).toMatchObject({ status: 'ENROLLED', missing: [] });
  });
});
