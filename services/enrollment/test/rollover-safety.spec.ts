/**
 * What keeps a rollover from deciding what it may not: an enrollment continued by an operator's early run still
 * follows its profiles for the rest of its year, and a run whose consumer has not caught up with the events its
 * decisions read decides nothing (503; the scheduled run retries) unless the operator forces it. Against the real
 * broker and database; the catch-up wait is short here (ROLLOVER_CATCH_UP_TIMEOUT_MS).
 */
import { deadLetterTopic, fiscalYearRange, nextFiscalYear, Topics } from '@lib/contracts';
import { PermanentError } from '@lib/messaging';
import { Clock } from '@lib/platform';
import { eventually } from '@lib/testing';
import { enrollmentId } from '../src/common/ids';
import { EnrollmentsModule } from '../src/enrollments/enrollments.module';
import { EndIneligibleProgramEnrollments } from '../src/enrollments/usecases/end-ineligible-program-enrollments.use-case';
import { EnrollmentsRepository } from '../src/enrollments/enrollments.repository';
import { RecordEligibilityDecision } from '../src/enrollments/usecases/record-eligibility-decision.use-case';
import { ViewsModule } from '../src/views/views.module';
import { ViewsRepository } from '../src/views/views.repository';
import { RolloverModule } from '../src/rollover/rollover.module';
import { RolloverScheduler } from '../src/rollover/rollover.scheduler';
import { ReviewEarlyRenewals } from '../src/rollover/usecases/review-early-renewals.use-case';
import {
  agreement,
  approvedProfiles,
  bankProfile,
  defaultBankProfile,
  call,
  enrollmentEvents,
  enrollmentEventsSettled,
  createProgram,
  CURRENT_FY,
  eligibility,
  eligibilityKnown,
  Harness,
  NEXT_FY,
  profileEvent,
  profileKnown,
  RULES,
  serviceOf,
  taxProfile,
  waitForEnrollmentEvent,
  withHarness,
  World,
  remindCurrentYear,
  TAX_VALID_UNTIL,
} from './support';

jest.setTimeout(150_000);

let h: Harness;
let w: World;
withHarness((harness, world) => ((h = harness), (w = world)), { ROLLOVER_CATCH_UP_TIMEOUT_MS: '3000', ROLLOVER_RETRY_MS: '60000' });

const operator = (body: unknown) => call(h, 'POST', '/v1/operator/rollover', { operator: true, body });
const col = () => h.db.collection<Record<string, any> & { _id: string }>('enrollments');

describe('an enrollment continued by an early run (before its year is over)', () => {
  it('still follows its bank profile for the rest of its year: edited, it goes back to VALIDATING, then ENROLLED once approved', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const { bank } = await approvedProfiles(h, w.partnerId, w.L1);
    const token = await w.token('admin');
    const enrolled = await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId: w.L1 } });
    const id = enrolled.body.enrollmentId;
    expect((await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token })).body.status).toBe('ENROLLED');

    const early = await operator({ fromFiscalYear: CURRENT_FY, programId: program.programId });
    expect(early.body).toEqual(expect.objectContaining({ examined: 1, renewed: 1, expired: 0, leftForYearEnd: 0, complete: true }));
    expect(await col().findOne({ _id: id })).toEqual(expect.objectContaining({ status: 'ENROLLED', rollover: expect.objectContaining({ outcome: 'RENEWED' }) }));
    const nextId = enrollmentId({ programId: program.programId, locationId: w.L1, fiscalYear: NEXT_FY });
    // Not submitted again (its continuation is), and the answer says why without claiming its year is over.
    const again = await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token });
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain(`continued into ${NEXT_FY} already (RENEWED, by an early rollover run)`);
    // Nor given another bank profile (Continue with one): refused the same way, its choice unchanged.
    const other = bankProfile(w.partnerId, { status: 'APPROVED', name: `Other ${w.run}` });
    await profileEvent(h, 'ProfileApproved', other);
    await profileKnown(h, other);
    const chosen = await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token, body: { bankProfileId: other.profileId } });
    expect(chosen.status).toBe(409);
    expect(chosen.body.detail).toContain(`continued into ${NEXT_FY} already (RENEWED, by an early rollover run): it follows its profiles until its year ends, but is not given another bank profile`);
    expect(await col().findOne({ _id: id })).toEqual(expect.objectContaining({ bankProfileId: bank.profileId }));
    // Continue alone answers it as it is.
    expect((await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token, body: {} })).body).toEqual(expect.objectContaining({ status: 'ENROLLED', proposal: expect.objectContaining({ bankProfileId: bank.profileId }) }));

    // The admin edits the bank details: a new revision, pending validation. The CURRENT_FY enrollment pays out until
    // its year ends: it may not stay ENROLLED on details nobody validated (SPEC 1, Enrollment 5).
    await profileEvent(h, 'ProfileUpdated', { ...bank, revision: 2, status: 'PENDING_VALIDATION' });
    await waitForEnrollmentEvent(h, nextId, 'EnrollmentValidating');
    await eventually(async () => expect(await col().findOne({ _id: id })).toEqual(expect.objectContaining({ status: 'VALIDATING' })), 10_000);
    const [validating] = await waitForEnrollmentEvent(h, id, 'EnrollmentValidating');
    expect(validating.envelope!.data).toEqual(expect.objectContaining({ fiscalYear: CURRENT_FY, previousStatus: 'ENROLLED' }));

    await profileEvent(h, 'ProfileApproved', { ...bank, revision: 2, status: 'APPROVED' });
    await eventually(async () => expect(await col().findOne({ _id: id })).toEqual(expect.objectContaining({ status: 'ENROLLED', validated: expect.objectContaining({ bank: 2 }) })));
    // Still marked: a later run does not continue it again.
    expect((await operator({ fromFiscalYear: CURRENT_FY, programId: program.programId })).body).toEqual(expect.objectContaining({ examined: 0 }));
  });
});

describe('a rerun resuming the continuations of a run killed before its marks', () => {
  it('follows each on the views as they are now: a bank edit recorded before the renewal existed makes it VALIDATING, a tax profile renewed before the ACTION_REQUIRED one existed lets it be submitted', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const token = await w.token('admin');
    const { bank } = await approvedProfiles(h, w.partnerId, w.L1);
    // L3's tax profile expires with the year: continued ACTION_REQUIRED (TAX_PROFILE_EXPIRED), waiting for its admin.
    const { tax } = await approvedProfiles(h, w.partnerId, w.L3, { expiresAt: fiscalYearRange(CURRENT_FY).end.toISOString() });
    const ids: Record<string, string> = {};
    for (const locationId of [w.L1, w.L3]) {
      ids[locationId] = (await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId } })).body.enrollmentId;
      expect((await call(h, 'POST', `/v1/enrollments/${ids[locationId]}/submit`, { token })).body.status).toBe('ENROLLED');
    }
    const run = { fromFiscalYear: CURRENT_FY, programId: program.programId, endYearNow: true };
    expect((await operator(run)).body).toEqual(expect.objectContaining({ examined: 2, renewed: 1, actionRequired: 1, complete: true }));
    const next = (locationId: string) => enrollmentId({ programId: program.programId, locationId, fiscalYear: NEXT_FY });
    expect(await col().findOne({ _id: next(w.L1) })).toEqual(expect.objectContaining({ status: 'ENROLLED', validated: expect.objectContaining({ bank: 1 }) }));
    expect(await col().findOne({ _id: next(w.L3) })).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', missing: ['TAX_PROFILE_EXPIRED'] }));

    // As if the run had been killed between its inserts and its marks, and the profiles' events had been recorded
    // after its read of the views and before its inserts (their handlers found no continuation to follow): the views
    // hold them, the continuations do not.
    await col().updateMany({ _id: { $in: [ids[w.L1], ids[w.L3]] } }, { $unset: { rollover: '' } });
    const views = serviceOf(h, ViewsModule, ViewsRepository);
    await views.recordProfile({ ...bank, revision: 2, status: 'PENDING_VALIDATION' }, new Date());
    await views.recordProfile({ ...tax, revision: 2, status: 'APPROVED', expiresAt: TAX_VALID_UNTIL }, new Date());

    expect((await operator(run)).body).toEqual(expect.objectContaining({ resumed: 2, complete: true }));
    expect(await col().findOne({ _id: next(w.L1) })).toEqual(expect.objectContaining({ status: 'VALIDATING' }));
    await waitForEnrollmentEvent(h, next(w.L1), 'EnrollmentValidating');
    expect(await col().findOne({ _id: next(w.L3) })).toEqual(expect.objectContaining({ status: 'INVITED', missing: [] }));
    expect((await call(h, 'GET', `/v1/enrollments/${next(w.L3)}`, { token })).body).toEqual(expect.objectContaining({ nextAction: 'SUBMIT' }));
  });
});

describe('a rollover run late, after the new year began', () => {
  it("follows a continuation whose tax profile expired since the year's start: ACTION_REQUIRED (TAX_PROFILE_EXPIRED), not left ENROLLED", async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const token = await w.token('admin');
    const newYear = fiscalYearRange(NEXT_FY).start;
    // Valid as the new year begins (the renewal is decided then), expired two days later, before the run.
    await approvedProfiles(h, w.partnerId, w.L1, { expiresAt: new Date(+newYear + 2 * 86_400_000).toISOString() });
    const id = (await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId: w.L1 } })).body.enrollmentId;
    expect((await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token })).body.status).toBe('ENROLLED');
    const next = enrollmentId({ programId: program.programId, locationId: w.L1, fiscalYear: NEXT_FY });

    const late = jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date(+newYear + 5 * 86_400_000));
    try {
      const run = await operator({ fromFiscalYear: CURRENT_FY, programId: program.programId });
      expect(run.body).toEqual(expect.objectContaining({ examined: 1, renewed: 1, complete: true }));
      expect(await col().findOne({ _id: next })).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', missing: ['TAX_PROFILE_EXPIRED'] }));
    } finally {
      late.mockRestore();
    }
    await waitForEnrollmentEvent(h, next, 'EnrollmentActionRequired');
    expect((await col().findOne({ _id: id }))!.rollover).toEqual(expect.objectContaining({ outcome: 'RENEWED' }));
  });
});

describe('an operator ending the year early on purpose (endYearNow)', () => {
  it('an early run leaves an enrollment that will not continue ENROLLED; with endYearNow it expires now, with its reason and event', async () => {
    const program = await createProgram(h);
    await eligibility(h, w, program.programId, w.L3, true);
    await eligibilityKnown(h, program.programId, w.L3);
    await approvedProfiles(h, w.partnerId, w.L3);
    const token = await w.token('admin');
    const enrolled = await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId: w.L3 } });
    const id = enrolled.body.enrollmentId;
    expect((await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token })).body.status).toBe('ENROLLED');
    await eligibility(h, w, program.programId, w.L3, false, NEXT_FY, ['Competency lapsed']);
    await eligibilityKnown(h, program.programId, w.L3, NEXT_FY, false);

    const early = await operator({ fromFiscalYear: CURRENT_FY, programId: program.programId });
    expect(early.body).toEqual(expect.objectContaining({ examined: 1, expired: 0, leftForYearEnd: 1, complete: true }));
    expect(await col().findOne({ _id: id })).toEqual(expect.objectContaining({ status: 'ENROLLED' }));

    const ended = await operator({ fromFiscalYear: CURRENT_FY, programId: program.programId, endYearNow: true });
    expect(ended.body).toEqual(expect.objectContaining({ examined: 1, expired: 1, leftForYearEnd: 0, complete: true }));
    const [expired] = await waitForEnrollmentEvent(h, id, 'EnrollmentExpired');
    expect(expired.envelope!.data).toEqual(expect.objectContaining({ status: 'EXPIRED', fiscalYear: CURRENT_FY }));
    expect(JSON.stringify(expired.envelope!.data.reasons)).toContain('Competency lapsed');
    expect((await call(h, 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: CURRENT_FY, endYearNow: 'yes' } })).status).toBe(400);
  });
});

/**
 * An ENROLLED enrollment of L1 whose bank details were edited (pending), continued by an operator's early run submitted
 * (VALIDATING); its continuation then ended INELIGIBLE by a decision for the next year, and L1 eligible again since.
 */
/** A new program with L1 eligible, its profiles approved, and enrolled (ENROLLED) through Enroll and Submit. */
async function enrolledAtL1() {
  const program = await createProgram(h);
  const token = await w.token('admin');
  await eligibility(h, w, program.programId, w.L1, true);
  await eligibilityKnown(h, program.programId, w.L1);
  await approvedProfiles(h, w.partnerId, w.L1);
  const id: string = (await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId: w.L1 } })).body.enrollmentId;
  expect((await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token })).body.status).toBe('ENROLLED');
  const nextId = enrollmentId({ programId: program.programId, locationId: w.L1, fiscalYear: NEXT_FY });
  return { program, token, id, nextId, byProgram: { fromFiscalYear: CURRENT_FY, programId: program.programId } };
}

async function continuedEarlyThenEndedIneligible() {
    const program = await createProgram(h);
    const token = await w.token('admin');
    await eligibility(h, w, program.programId, w.L1, true);
    await eligibilityKnown(h, program.programId, w.L1);
    const { bank } = await approvedProfiles(h, w.partnerId, w.L1);
    const id = (await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId: w.L1 } })).body.enrollmentId;
    expect((await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token })).body.status).toBe('ENROLLED');
    // Its bank details edited: a revision pending validation. The early run continues it submitted, VALIDATING.
    await profileEvent(h, 'ProfileUpdated', { ...bank, revision: 2, status: 'PENDING_VALIDATION' });
    await eventually(async () => expect(await col().findOne({ _id: id })).toEqual(expect.objectContaining({ status: 'VALIDATING' })));
    const byProgram = { fromFiscalYear: CURRENT_FY, programId: program.programId };
    expect((await operator(byProgram)).body).toEqual(expect.objectContaining({ examined: 1, validating: 1 }));
    const nextId = enrollmentId({ programId: program.programId, locationId: w.L1, fiscalYear: NEXT_FY });
    // Not eligible for the next year: the continuation, never completed, ends INELIGIBLE; then eligible again.
    await eligibility(h, w, program.programId, w.L1, false, NEXT_FY, ['Competency lapsed']);
    await waitForEnrollmentEvent(h, nextId, 'EnrollmentIneligible');
    await eligibility(h, w, program.programId, w.L1, true, NEXT_FY);
    await eligibilityKnown(h, program.programId, w.L1, NEXT_FY, true);
    expect(await col().findOne({ _id: nextId })).toEqual(expect.objectContaining({ status: 'INELIGIBLE' }));
    return { token, id, nextId, byProgram };
}

describe('continuations made by an early run, once the year is over', () => {
  it('are decided again: the one whose location lost eligibility for the next year expires and its continuation ends INELIGIBLE (reminded first); the other keeps its renewal; killed halfway, a rerun finishes it, each once', async () => {
    const program = await createProgram(h);
    const token = await w.token('admin');
    const enrolled: Record<string, string> = {};
    for (const locationId of [w.L1, w.L3]) {
      await eligibility(h, w, program.programId, locationId, true);
      await eligibilityKnown(h, program.programId, locationId);
      await approvedProfiles(h, w.partnerId, locationId);
      const id = (await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId } })).body.enrollmentId;
      expect((await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token })).body.status).toBe('ENROLLED');
      enrolled[locationId] = id;
    }
    const [lapsed, kept] = [enrolled[w.L1], enrolled[w.L3]];
    const nextOf = (locationId: string) => enrollmentId({ programId: program.programId, locationId, fiscalYear: NEXT_FY });
    const byProgram = { fromFiscalYear: CURRENT_FY, programId: program.programId };

    // An operator's early run: both continue, marked as decided early.
    expect((await operator(byProgram)).body).toEqual(expect.objectContaining({ examined: 2, renewed: 2, earlyReviewed: 0 }));
    expect((await call(h, 'GET', `/v1/enrollments/${lapsed}`, { token })).body.rollover).toEqual(expect.objectContaining({ outcome: 'RENEWED', early: true }));

    // Before the year is over, L1 is decided not eligible for the next year. Its continuation is ENROLLED: a live
    // decision ends only enrollments never ENROLLED.
    const lapse = await eligibility(h, w, program.programId, w.L1, false, NEXT_FY, ['Competency lapsed']);
    await eligibilityKnown(h, program.programId, w.L1, NEXT_FY, false);
    expect(await col().findOne({ _id: nextOf(w.L1) })).toEqual(expect.objectContaining({ status: 'ENROLLED' }));

    // The renewal reminders tell its admins it will not continue; not the other one's.
    expect((await remindCurrentYear(h)).status).toBe(200);
    const [atRisk] = await waitForEnrollmentEvent(h, lapsed, 'EnrollmentRenewalAtRisk');
    expect(atRisk.envelope!.data).toEqual(expect.objectContaining({ kind: 'WILL_NOT_CONTINUE', fiscalYear: CURRENT_FY }));
    expect(JSON.stringify(atRisk.envelope!.data.reasons)).toContain('Competency lapsed');
    expect(await col().findOne({ _id: kept })).not.toHaveProperty('renewalReminders');

    // The year ends (on purpose, endYearNow), and the run is killed between the expiry and the continuation's end.
    const review = serviceOf(h, RolloverModule, ReviewEarlyRenewals);
    const killed = jest.spyOn(review as unknown as { end: () => Promise<boolean> }, 'end').mockRejectedValueOnce(new Error('killed'));
    let first;
    try {
      first = await operator({ ...byProgram, endYearNow: true });
    } finally {
      killed.mockRestore();
    }
    expect(first.status).toBe(500);
    expect(await col().findOne({ _id: lapsed })).toEqual(expect.objectContaining({ status: 'EXPIRED', rollover: expect.objectContaining({ outcome: 'EXPIRED', early: true }) }));
    expect(await col().findOne({ _id: nextOf(w.L1) })).toEqual(expect.objectContaining({ status: 'ENROLLED' }));

    // The rerun ends the continuation, without expiring anything again, and keeps the other's renewal.
    expect((await operator({ ...byProgram, endYearNow: true })).body).toEqual(
      expect.objectContaining({ earlyReviewed: 2, earlyConfirmed: 1, earlyUndone: 0, expired: 0, conflicts: 0, complete: true }),
    );
    const [ended] = await waitForEnrollmentEvent(h, nextOf(w.L1), 'EnrollmentIneligible');
    // No longer completed: consumers (invitations) take it as not enrolled any more; the decision that ended it is named
    // (also by the rerun that finishes the interrupted review).
    expect(ended.envelope!.data).toEqual(
      expect.objectContaining({ status: 'INELIGIBLE', fiscalYear: NEXT_FY, previousStatus: 'ENROLLED', completed: false, decision: { eventId: lapse.eventId, decidedAt: lapse.occurredAt, position: { partition: expect.any(Number), offset: expect.stringMatching(/^\d+$/) } } }),
    );
    expect(JSON.stringify(ended.envelope!.data.reasons)).toContain('Competency lapsed');
    const [expired] = await waitForEnrollmentEvent(h, lapsed, 'EnrollmentExpired');
    expect(expired.envelope!.data).toEqual(expect.objectContaining({ status: 'EXPIRED', fiscalYear: CURRENT_FY, previousStatus: 'ENROLLED', completed: true }));
    expect(JSON.stringify(expired.envelope!.data.reasons)).toContain('Competency lapsed');
    expect((await col().findOne({ _id: lapsed }))!.rollover).toEqual({ toFiscalYear: NEXT_FY, outcome: 'EXPIRED', at: expect.any(Date) });
    // The one still eligible keeps its renewal, no longer flagged.
    expect((await col().findOne({ _id: kept }))!.rollover).toEqual({ toFiscalYear: NEXT_FY, outcome: 'RENEWED', at: expect.any(Date) });
    expect(await col().findOne({ _id: nextOf(w.L3) })).toEqual(expect.objectContaining({ status: 'ENROLLED' }));

    // Once more: nothing left to do, and every event was published once.
    expect((await operator({ ...byProgram, endYearNow: true })).body).toEqual(expect.objectContaining({ examined: 0, earlyReviewed: 0, expired: 0 }));
    await enrollmentEventsSettled(h, { programId: program.programId }, [w.L1, w.L3]);
    const types = (id: string) => enrollmentEvents(h, id).map((e) => e.envelope!.type);
    expect(types(lapsed).filter((type) => type === 'EnrollmentExpired')).toHaveLength(1);
    expect(types(nextOf(w.L1))).toEqual(['EnrollmentRenewed', 'EnrollmentIneligible']);
    expect(types(nextOf(w.L3))).toEqual(['EnrollmentRenewed']);

    // The ended continuation no longer counts as completed (it was a renewal, ENROLLED): started again once L1 is
    // eligible, it is a new start, and an ineligible decision would end it again.
    const endedContinuation = await col().findOne({ _id: nextOf(w.L1) });
    for (const field of ['enrolledAt', 'submittedAt', 'validated']) expect(endedContinuation).not.toHaveProperty(field);
    await eligibility(h, w, program.programId, w.L1, true, NEXT_FY);
    await eligibilityKnown(h, program.programId, w.L1, NEXT_FY, true);
    // A review killed before its last write (the flag still on the expired one) must not end the restarted one again.
    await col().updateOne({ _id: lapsed }, { $set: { 'rollover.early': true } });
    const restarted = await call(h, 'POST', `/v1/enrollments/${nextOf(w.L1)}/refresh`, { token, body: {} });
    expect(restarted.status).toBe(200);
    expect(restarted.body).toEqual(expect.objectContaining({ fiscalYear: NEXT_FY, nextAction: 'SUBMIT' }));
    const fresh = await col().findOne({ _id: nextOf(w.L1) });
    for (const field of ['enrolledAt', 'renewedFrom', 'renewedAs']) expect(fresh).not.toHaveProperty(field);
    expect((await operator({ ...byProgram, endYearNow: true })).body).toEqual(expect.objectContaining({ earlyReviewed: 1, earlyUndone: 0, conflicts: 0 }));
    expect(await col().findOne({ _id: nextOf(w.L1) })).toEqual(expect.objectContaining({ status: fresh!.status, version: fresh!.version }));
    expect((await col().findOne({ _id: lapsed }))!.rollover).not.toHaveProperty('early');
  });

  it('one expired by a review killed before its continuation ended, in a program discontinued since: the discontinuation ends the continuation, and the flag goes', async () => {
    const { program, id: lapsed, nextId: next, byProgram } = await enrolledAtL1();
    expect((await operator(byProgram)).body).toEqual(expect.objectContaining({ renewed: 1 }));
    await eligibility(h, w, program.programId, w.L1, false, NEXT_FY, ['Competency lapsed']);
    await eligibilityKnown(h, program.programId, w.L1, NEXT_FY, false);
    const review = serviceOf(h, RolloverModule, ReviewEarlyRenewals);
    const killed = jest.spyOn(review as unknown as { end: () => Promise<boolean> }, 'end').mockRejectedValueOnce(new Error('killed'));
    try {
      expect((await operator({ ...byProgram, endYearNow: true })).status).toBe(500);
    } finally {
      killed.mockRestore();
    }
    expect(await col().findOne({ _id: lapsed })).toEqual(expect.objectContaining({ status: 'EXPIRED', rollover: expect.objectContaining({ early: true }) }));

    // Discontinued before any rerun: the discontinuation ends the continuation (the EXPIRED one is no longer its).
    const discontinued = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { state: 'DISCONTINUED' }, headers: { 'if-match': `"${program.revision}"` } });
    expect(discontinued.status).toBe(200);
    await waitForEnrollmentEvent(h, next, 'EnrollmentDiscontinued');
    expect((await operator({ ...byProgram, endYearNow: true })).body).toEqual(expect.objectContaining({ earlyReviewed: 0, conflicts: 0, complete: true }));
    expect((await col().findOne({ _id: lapsed }))!.rollover).not.toHaveProperty('early');
    expect(await col().findOne({ _id: lapsed })).toEqual(expect.objectContaining({ status: 'EXPIRED' }));
    // Nothing left flagged: a run after it reviews nothing.
    expect((await col().countDocuments({ programId: program.programId, 'rollover.early': true } as never))).toBe(0);
  });

  // A batch reads the program OPEN and inserts; the program is discontinued and its sweep runs before the insert lands;
  // the batch is then killed (or loses its lease, or a follow-up fails) before it reads the programs again.
  it('a continuation left live in a program discontinued before it landed (its batch killed before re-reading the programs) is ended by the next run', async () => {
    const { program, id, nextId: next, byProgram } = await enrolledAtL1();
    expect((await operator({ ...byProgram, endYearNow: true })).body).toEqual(expect.objectContaining({ renewed: 1, complete: true }));
    const discontinued = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { state: 'DISCONTINUED' }, headers: { 'if-match': `"${program.revision}"` } });
    expect(discontinued.status).toBe(200);
    await waitForEnrollmentEvent(h, next, 'EnrollmentDiscontinued');
    await eventually(async () => expect(await col().findOne({ _id: id })).toEqual(expect.objectContaining({ status: 'DISCONTINUED' })));
    // The continuation as it was when it landed after the sweep: live.
    const landed = await col().findOneAndUpdate({ _id: next }, { $set: { status: 'ENROLLED', reasons: [] }, $inc: { version: 1 } }, { returnDocument: 'after' });
    expect(landed).toEqual(expect.objectContaining({ status: 'ENROLLED' }));

    expect((await operator({ ...byProgram, endYearNow: true })).body).toEqual(expect.objectContaining({ complete: true }));
    expect(await col().findOne({ _id: next })).toEqual(expect.objectContaining({ status: 'DISCONTINUED', version: landed!.version + 1 }));
    await waitForEnrollmentEvent(h, next, 'EnrollmentDiscontinued', 2);
    // The year's own run (every program) finds nothing more to end.
    expect((await operator({ fromFiscalYear: CURRENT_FY, endYearNow: true })).status).toBe(200);
    expect(await col().findOne({ _id: next })).toEqual(expect.objectContaining({ version: landed!.version + 1 }));
  });

  it("one confirmed on the ended year's eligibility (none for the next yet) is ended by the next year's first decision, as a continuation made at year end", async () => {
    const { program, nextId, byProgram } = await enrolledAtL1();
    expect((await operator(byProgram)).body).toEqual(expect.objectContaining({ renewed: 1 }));
    expect(await col().findOne({ _id: nextId })).not.toHaveProperty('eligibilityCarried'); // an early run's: decided again at year end

    expect((await operator({ ...byProgram, endYearNow: true })).body).toEqual(expect.objectContaining({ earlyReviewed: 1, earlyConfirmed: 1, conflicts: 0 }));
    expect(await col().findOne({ _id: nextId })).toEqual(expect.objectContaining({ status: 'ENROLLED', eligibilityCarried: true }));

    await eligibility(h, w, program.programId, w.L1, false, NEXT_FY, ['Competency lapsed']);
    const [ended] = await waitForEnrollmentEvent(h, nextId, 'EnrollmentIneligible');
    expect(ended.envelope!.data).toEqual(expect.objectContaining({ status: 'INELIGIBLE', previousStatus: 'ENROLLED', completed: false, reasons: ['Competency lapsed'] }));
  });

  it.each([
    ['its location no longer eligible for the next year: it expires and its continuation ends INELIGIBLE', false],
    ["still eligible on the ended year's decision: its continuation stays, carried (the next year's first decision decides it)", true],
  ])('one whose early run stopped before its mark is reviewed all the same once the year is over, %s', async (_, eligible) => {
    const { program, id, nextId, byProgram } = await enrolledAtL1();
    expect((await operator(byProgram)).body).toEqual(expect.objectContaining({ renewed: 1 }));
    expect(await col().findOne({ _id: nextId })).toEqual(expect.objectContaining({ status: 'ENROLLED', renewedEarly: true }));
    // As if the early run had stopped between its insert and its mark (killed, or its lease lost), and nobody ran it again.
    await col().updateOne({ _id: id }, { $unset: { rollover: '' } });
    if (!eligible) {
      await eligibility(h, w, program.programId, w.L1, false, NEXT_FY, ['Competency lapsed']);
      await eligibilityKnown(h, program.programId, w.L1, NEXT_FY, false);
    }

    const yearEnd = (await operator({ ...byProgram, endYearNow: true })).body;
    expect(yearEnd).toEqual(
      expect.objectContaining({ resumed: 1, earlyResumed: 1, earlyReviewed: 1, earlyConfirmed: eligible ? 1 : 0, earlyUndone: eligible ? 0 : 1, expired: eligible ? 0 : 1, conflicts: 0, complete: true }),
    );
    if (eligible) {
      expect((await col().findOne({ _id: id }))!.rollover).toEqual({ toFiscalYear: NEXT_FY, outcome: 'RENEWED', at: expect.any(Date) });
      expect(await col().findOne({ _id: nextId })).toEqual(expect.objectContaining({ status: 'ENROLLED', eligibilityCarried: true }));
    } else {
      expect(await col().findOne({ _id: id })).toEqual(expect.objectContaining({ status: 'EXPIRED', rollover: { toFiscalYear: NEXT_FY, outcome: 'EXPIRED', at: expect.any(Date) } }));
      const [ended] = await waitForEnrollmentEvent(h, nextId, 'EnrollmentIneligible');
      expect(ended.envelope!.data).toEqual(expect.objectContaining({ status: 'INELIGIBLE', previousStatus: 'ENROLLED', completed: false }));
      await waitForEnrollmentEvent(h, id, 'EnrollmentExpired');
    }
    // Once more: nothing left to review.
    expect((await operator({ ...byProgram, endYearNow: true })).body).toEqual(expect.objectContaining({ examined: 0, earlyReviewed: 0, earlyResumed: 0 }));
  });

  it('one whose continuation ended INELIGIBLE meanwhile (a decision overruled since) is decided again as at year end: the continuation is taken over', async () => {
    const { id, nextId, byProgram } = await continuedEarlyThenEndedIneligible();

    // The year ends: the review unmarks it, and the same run continues it again (VALIDATING, its event).
    const ended = await operator({ ...byProgram, endYearNow: true });
    expect(ended.body).toEqual(expect.objectContaining({ earlyReviewed: 1, earlyReopened: 1, earlyConfirmed: 0, examined: 1, validating: 1, expired: 0, conflicts: 0 }));
    expect(await col().findOne({ _id: nextId })).toEqual(expect.objectContaining({ status: 'VALIDATING', renewedFrom: id, submittedBy: 'rollover' }));
    expect((await col().findOne({ _id: id }))!.rollover).toEqual({ toFiscalYear: NEXT_FY, outcome: 'VALIDATING', at: expect.any(Date) });
    // The takeover's event has an id of its own: consumers skip an id they have seen (the early insert's).
    const validating = await waitForEnrollmentEvent(h, nextId, 'EnrollmentValidating', 2);
    expect(new Set(validating.map((m) => m.envelope!.eventId)).size).toBe(2);
    // It says what it took over (the notification's wording reads it).
    expect(validating[1].envelope!.data).toEqual(expect.objectContaining({ status: 'VALIDATING', previousStatus: 'INELIGIBLE', fromFiscalYear: CURRENT_FY }));
  });

  it('one whose continuation the admin started again after it ended INELIGIBLE (no longer its continuation) is decided again as at year end too', async () => {
    const { token, id, nextId, byProgram } = await continuedEarlyThenEndedIneligible();
    // The admin starts it again (Continue): a new start, no longer the rollover's continuation, not submitted.
    expect((await call(h, 'POST', `/v1/enrollments/${nextId}/refresh`, { token, body: {} })).status).toBe(200);
    expect(await col().findOne({ _id: nextId })).not.toHaveProperty('renewedFrom');

    // The year ends: the review unmarks it, and the same run continues it again (VALIDATING, its event).
    const ended = await operator({ ...byProgram, endYearNow: true });
    expect(ended.body).toEqual(expect.objectContaining({ earlyReviewed: 1, earlyReopened: 1, earlyConfirmed: 0, examined: 1, validating: 1, expired: 0, conflicts: 0 }));
    expect(await col().findOne({ _id: nextId })).toEqual(expect.objectContaining({ status: 'VALIDATING', renewedFrom: id, submittedBy: 'rollover' }));
    expect((await col().findOne({ _id: id }))!.rollover).toEqual({ toFiscalYear: NEXT_FY, outcome: 'VALIDATING', at: expect.any(Date) });
  });

  it('one whose continuation the admin started again and submitted on their own is not reminded as at risk: the year end marks it SUPERSEDED', async () => {
    const { token, id, nextId, byProgram } = await continuedEarlyThenEndedIneligible();
    // Its own bank revision sent back (it will not continue as it is)...
    const bank = (await col().findOne({ _id: id }))!.bankProfileId!;
    await profileEvent(h, 'ProfileActionRequired', { ...bankProfile(w.partnerId, { profileId: bank }), revision: 2, status: 'ACTION_REQUIRED', reasons: ['Account closed'] } as never);
    await eventually(async () => expect(await col().findOne({ _id: id })).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED' })));
    // ...while the admin enrolled the next year on their own, with another bank profile, submitted.
    const other = bankProfile(w.partnerId, { status: 'APPROVED' });
    await profileEvent(h, 'ProfileApproved', other);
    await profileKnown(h, other);
    expect((await call(h, 'POST', `/v1/enrollments/${nextId}/refresh`, { token, body: { bankProfileId: other.profileId } })).status).toBe(200);
    expect((await call(h, 'POST', `/v1/enrollments/${nextId}/submit`, { token })).body.status).toBe('ENROLLED');

    // (The run covers every program of the year: other tests' enrollments are counted too.)
    expect((await remindCurrentYear(h)).status).toBe(200);
    expect(await col().findOne({ _id: id })).not.toHaveProperty('renewalReminders');
    await enrollmentEventsSettled(h, { programId: byProgram.programId }, [w.L1]);
    expect(enrollmentEvents(h, id).filter((e) => e.envelope!.type === 'EnrollmentRenewalAtRisk')).toEqual([]);
    // The year end agrees: the old one SUPERSEDED by the admin's own.
    await operator({ ...byProgram, endYearNow: true });
    expect((await col().findOne({ _id: id }))!.rollover).toEqual(expect.objectContaining({ outcome: 'SUPERSEDED' }));
  });

  it('a run resuming an interrupted one does not take a continuation ended INELIGIBLE since for done: it expires the old one, or takes the continuation over', async () => {
    const program = await createProgram(h);
    const token = await w.token('admin');
    const ids: Record<string, string> = {};
    for (const locationId of [w.L1, w.L3]) {
      await eligibility(h, w, program.programId, locationId, true);
      await eligibilityKnown(h, program.programId, locationId);
      await approvedProfiles(h, w.partnerId, locationId);
      ids[locationId] = (await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId } })).body.enrollmentId;
      expect((await call(h, 'POST', `/v1/enrollments/${ids[locationId]}/submit`, { token })).body.status).toBe('ENROLLED');
    }
    const byProgram = { fromFiscalYear: CURRENT_FY, programId: program.programId, endYearNow: true };
    expect((await operator(byProgram)).body).toEqual(expect.objectContaining({ examined: 2, renewed: 2 }));
    const nextOf = (locationId: string) => enrollmentId({ programId: program.programId, locationId, fiscalYear: NEXT_FY });
    // As if that run had been killed before its marks, and both continuations had then ended INELIGIBLE before ever
    // being ENROLLED (an ineligible decision for the next year); L1 stays not eligible, L3 is eligible again.
    for (const locationId of [w.L1, w.L3]) {
      await col().updateOne({ _id: ids[locationId] }, { $unset: { rollover: '' } });
      await col().updateOne({ _id: nextOf(locationId) }, { $set: { status: 'INELIGIBLE', reasons: ['Competency lapsed'] }, $unset: { enrolledAt: '', validated: '', submittedAt: '', submittedBy: '' }, $inc: { version: 1 } });
    }
    await eligibility(h, w, program.programId, w.L1, false, NEXT_FY, ['Competency lapsed']);
    await eligibilityKnown(h, program.programId, w.L1, NEXT_FY, false);

    const rerun = await operator(byProgram);
    expect(rerun.body).toEqual(expect.objectContaining({ examined: 2, resumed: 0, renewed: 1, expired: 1, conflicts: 0 }));
    expect(await col().findOne({ _id: ids[w.L1] })).toEqual(expect.objectContaining({ status: 'EXPIRED', rollover: expect.objectContaining({ outcome: 'EXPIRED' }) }));
    const [expired] = await waitForEnrollmentEvent(h, ids[w.L1], 'EnrollmentExpired');
    expect(JSON.stringify(expired.envelope!.data.reasons)).toContain('Competency lapsed');
    expect(await col().findOne({ _id: nextOf(w.L3) })).toEqual(expect.objectContaining({ status: 'ENROLLED', renewedFrom: ids[w.L3] }));
    const renewed = await waitForEnrollmentEvent(h, nextOf(w.L3), 'EnrollmentRenewed', 2);
    expect(new Set(renewed.map((m) => m.envelope!.eventId)).size).toBe(2);
  });
});

describe('an open program made to require eligibility while a batch writes', () => {
  // The batch reads the program open, the operator makes it require eligibility, and that revision's sweep runs before
  // the continuation lands (it finds nothing of the new year to end): the batch's own re-check must end it.
  it("ends the unfinished continuation of a location decided not eligible for the new year (INELIGIBLE), as the revision's sweep would have", async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const token = await w.token('admin');
    // Its tax profile expires with the year: continued ACTION_REQUIRED (TAX_PROFILE_EXPIRED), never completed.
    await approvedProfiles(h, w.partnerId, w.L3, { expiresAt: fiscalYearRange(CURRENT_FY).end.toISOString() });
    const id = (await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId: w.L3 } })).body.enrollmentId;
    expect((await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token })).body.status).toBe('ENROLLED');
    // Kept by the view, ignored while the program is open.
    await eligibility(h, w, program.programId, w.L3, false, NEXT_FY, ['Competency lapsed']);
    await eligibilityKnown(h, program.programId, w.L3, NEXT_FY, false);

    const next = enrollmentId({ programId: program.programId, locationId: w.L3, fiscalYear: NEXT_FY });
    const sweep = serviceOf(h, EnrollmentsModule, EndIneligibleProgramEnrollments);
    const realSweep = sweep.execute.bind(sweep);
    let swept!: () => void;
    const sweptOnce = new Promise<void>((resolve) => (swept = resolve));
    const sweeps = jest.spyOn(sweep, 'execute').mockImplementation(async (...args) => {
      const ended = await realSweep(...args);
      swept();
      return ended;
    });
    // Right before the continuation's insert (the batch has read the programs): the operator's change, and its sweep.
    const repository = serviceOf(h, EnrollmentsModule, EnrollmentsRepository);
    const realWrite = repository.withOutbox.bind(repository);
    let flipped = false;
    const writes = jest.spyOn(repository, 'withOutbox').mockImplementation(async (ids, write) => {
      if (!flipped && ids.includes(next)) {
        flipped = true;
        const patched = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { requiresEligibility: true }, headers: { 'if-match': `"${program.revision}"` } });
        expect(patched.status).toBe(200);
        await sweptOnce;
      }
      return realWrite(ids, write);
    });
    try {
      expect((await operator({ fromFiscalYear: CURRENT_FY, programId: program.programId, endYearNow: true })).body).toEqual(expect.objectContaining({ complete: true }));
    } finally {
      writes.mockRestore();
      sweeps.mockRestore();
    }
    expect(flipped).toBe(true);
    expect(await col().findOne({ _id: next })).toEqual(expect.objectContaining({ status: 'INELIGIBLE', reasons: expect.arrayContaining(['Competency lapsed']) }));
    await waitForEnrollmentEvent(h, next, 'EnrollmentIneligible');
  });
});

describe('an enrollment submitted without a tax profile, its program requiring one since', () => {
  it("is continued with the location's approved tax profile (RENEWED), not as missing one", async () => {
    const program = await createProgram(h, { requiresEligibility: false, payoutRules: { ...RULES, taxProfileRequired: false } });
    const bank = bankProfile(w.partnerId, { status: 'APPROVED' });
    await profileEvent(h, 'ProfileApproved', bank);
    await profileKnown(h, bank);
    await defaultBankProfile(h, w.partnerId, w.L2, bank.profileId);
    await eventually(async () => expect((await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').findOne({ _id: w.L2 }))?.bankProfileId).toBe(bank.profileId));
    const token = await w.token('adminOfOther');
    const id = (await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId: w.L2 } })).body.enrollmentId;
    expect((await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token })).body).toMatchObject({ status: 'ENROLLED', proposal: { taxProfileId: null } });

    // The program requires a tax profile from now on; the location's is there, approved. Nothing else happens before the
    // rollover (no Submit, no profile event after the change).
    const tax = taxProfile(w.partnerId, w.L2, { status: 'APPROVED' });
    await profileEvent(h, 'ProfileApproved', tax);
    await profileKnown(h, tax);
    const patched = await call(h, 'PATCH', `/v1/programs/${program.programId}`, {
      operator: true,
      body: { payoutRules: { ...RULES, taxProfileRequired: true } },
      headers: { 'if-match': `"${program.revision}"` },
    });
    expect(patched.status).toBe(200);

    const run = await operator({ fromFiscalYear: CURRENT_FY, programId: program.programId });
    expect(run.body).toEqual(expect.objectContaining({ examined: 1, renewed: 1, actionRequired: 0 }));
    const next = await col().findOne({ _id: enrollmentId({ programId: program.programId, locationId: w.L2, fiscalYear: NEXT_FY }) });
    expect(next).toEqual(expect.objectContaining({ status: 'ENROLLED', taxProfileId: tax.profileId, missing: [] }));
  });
});

describe('a rollover whose consumer has not caught up', () => {
  it('decides nothing: the operator gets 503 with Retry-After (the renewal reminders too), the scheduled run fails (and is retried); "force": true decides on the views as they are', async () => {
    // A completed enrollment of a year that is over, which would renew.
    const fiscalYear = 'FY24';
    const program = await createProgram(h, { fiscalYear, requiresEligibility: false, payoutRules: { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: false } });
    const bankProfileId = `cbank-${w.run}`;
    await h.db.collection('profile_view').insertOne({
      _id: bankProfileId,
      kind: 'BANK',
      partnerId: w.partnerId,
      revision: 1,
      rank: 3,
      status: 'APPROVED',
      reasons: [],
      currency: 'USD',
      paymentMethod: 'ELECTRONIC_BANK_TRANSFER',
      updatedAt: new Date(),
    } as never);
    const now = new Date();
    const locationId = `cloc-${w.run}`;
    const seeded = {
      _id: enrollmentId({ programId: program.programId, locationId, fiscalYear }),
      programId: program.programId,
      programName: program.name,
      partnerId: w.partnerId,
      locationId,
      fiscalYear,
      status: 'ENROLLED',
      reasons: [],
      missing: [],
      bankChosen: false,
      bankProfileId,
      submittedAt: now,
      enrolledAt: now,
      validated: { bank: 1 },
      evaluatedAt: now,
      version: 3,
      createdAt: now,
      updatedAt: now,
    };
    await col().insertOne(seeded as never);
    const unchanged = async () => {
      expect(await col().findOne({ _id: seeded._id })).toEqual(expect.objectContaining({ status: 'ENROLLED', version: 3 }));
      expect(await col().findOne({ _id: seeded._id })).not.toHaveProperty('rollover');
      expect(await col().countDocuments({ renewedFrom: seeded._id } as never)).toBe(0);
    };

    // The consumer is stuck on an eligibility decision (a slow database, say): what was published after it is not
    // consumed, and the group's committed offset stays behind the topic's end.
    const records = serviceOf(h, EnrollmentsModule, RecordEligibilityDecision);
    const record = records.execute.bind(records);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let stuck = false;
    const spy = jest.spyOn(records, 'execute').mockImplementation(async (decision, ...rest) => {
      if (decision.programId === program.programId) {
        stuck = true;
        await released;
      }
      return record(decision, ...rest);
    });
    try {
      await eligibility(h, w, program.programId, locationId, true, nextFiscalYear(fiscalYear));
      await eventually(async () => expect(stuck).toBe(true));

      const refused = await operator({ fromFiscalYear: fiscalYear, programId: program.programId });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(refused.headers.get('retry-after')).toBe('60');
      expect(refused.body).toEqual(expect.objectContaining({ status: 503, type: expect.stringMatching(/\/consumer-behind$/) }));
      expect(refused.body.detail).toContain('"force": true');
      await unchanged();

      // The renewal reminders of that year (sent while it runs: the service's clock in its last month) read the same
      // views: not sent either (a reminder cannot be taken back).
      const inYear = jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date(fiscalYearRange(fiscalYear).end.getTime() - 10 * 86_400_000));
      const reminders = (body: unknown) => call(h, 'POST', '/v1/operator/renewal-reminders', { operator: true, body });
      const notReminded = await reminders({ fiscalYear });
      expect(notReminded.status).toBe(503);
      expect(notReminded.headers.get('retry-after')).toBe('60');
      expect(notReminded.body).toEqual(expect.objectContaining({ status: 503, type: expect.stringMatching(/\/consumer-behind$/) }));
      expect(notReminded.body.detail).toContain(`The renewal reminders of ${fiscalYear} were not sent`);
      await unchanged();
      expect(await col().findOne({ _id: seeded._id })).not.toHaveProperty('renewalReminders');
      const forcedReminders = await reminders({ fiscalYear, force: true });
      expect(forcedReminders.status).toBe(200);
      expect(forcedReminders.body).toEqual(expect.objectContaining({ fiscalYear, caughtUp: false, examined: 1, onTrack: 1, reminded: 0, complete: true }));
      inYear.mockRestore();

      // The scheduled run (the day after that year ended): it fails the same way, so runScheduled runs it again later.
      const clock = jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date(fiscalYearRange(fiscalYear).end.getTime() + 86_400_000));
      try {
        await expect(h.service.app.get(RolloverScheduler).runOnce()).rejects.toMatchObject({ status: 503 });
      } finally {
        clock.mockRestore();
      }
      await unchanged();

      const forced = await operator({ fromFiscalYear: fiscalYear, programId: program.programId, force: true });
      expect(forced.status).toBe(200);
      expect(forced.body).toEqual(expect.objectContaining({ caughtUp: false, examined: 1, renewed: 1, complete: true }));
    } finally {
      release();
      spy.mockRestore();
    }
    expect(await col().findOne({ _id: seeded._id })).toEqual(expect.objectContaining({ rollover: expect.objectContaining({ outcome: 'RENEWED' }) }));
    // Caught up again: a run is let through.
    await eventually(async () => expect((await operator({ fromFiscalYear: fiscalYear, programId: program.programId })).body).toEqual(expect.objectContaining({ caughtUp: true, examined: 0 })));
  });

  it('rejects a "force" that is not a boolean', async () => {
    const answer = await operator({ fromFiscalYear: 'FY24', force: 'yes' });
    expect(answer.status).toBe(400);
    expect(answer.body.errors).toEqual([expect.objectContaining({ field: 'force' })]);
    const reminders = await call(h, 'POST', '/v1/operator/renewal-reminders', { operator: true, body: { fiscalYear: 'FY24', force: 1 } });
    expect(reminders.status).toBe(400);
    expect(reminders.body.errors).toEqual([expect.objectContaining({ field: 'force' })]);
  });
});

describe('a rollover one of whose inputs was dead-lettered by this service', () => {
  it("decides nothing (503 inputs-dead-lettered, naming it) until a replay applies it, or when forced; one refused for good does not count", async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const partnerId = w.partnerId;
    // The agreement view's write fails while the test says so: the consumer retries, then dead-letters the event.
    const views = serviceOf(h, ViewsModule, ViewsRepository);
    const recordAgreement = views.recordAgreement.bind(views);
    let failing: 'transient' | 'permanent' | null = 'transient';
    const spy = jest.spyOn(views, 'recordAgreement').mockImplementation(async (change, ...rest) => {
      if (change.partnerId === partnerId && failing === 'transient') throw new Error('the agreements view write kept failing');
      if (change.partnerId === partnerId && failing === 'permanent') throw new PermanentError('refused for good');
      return recordAgreement(change, ...rest);
    });
    try {
      const change = await agreement(h, partnerId, true);
      const dlq = await h.kafka.watch([deadLetterTopic(Topics.agreements)]);
      await dlq.waitFor((m) => m.envelope?.eventId === change.eventId, { timeoutMs: 30_000 });

      const refused = await eventually(async () => {
        const answer = await operator({ fromFiscalYear: CURRENT_FY, programId: program.programId });
        expect(answer.status).toBe(503);
        return answer;
      }, 30_000, 200);
      expect(refused.headers.get('retry-after')).toBe('60');
      expect(refused.body).toEqual(
        expect.objectContaining({
          type: expect.stringMatching(/\/inputs-dead-lettered$/),
          deadLetters: [expect.objectContaining({ topic: Topics.agreements, type: 'AgreementStatusChanged', eventId: change.eventId, error: expect.stringContaining('kept failing') })],
        }),
      );
      expect(refused.body.detail).toContain('npm run dlq -- list agreements.status.v1');
      expect(refused.body.detail).toContain('"force": true');

      const forced = await operator({ fromFiscalYear: CURRENT_FY, programId: program.programId, force: true });
      expect(forced.status).toBe(200);
      expect(forced.body).toEqual(expect.objectContaining({ caughtUp: false, complete: true }));

      // A replay refused for good (bad input: it can never apply) no longer counts either.
      failing = 'permanent';
      await h.kafka.publish(Topics.agreements, partnerId, change);
      await dlq.waitFor((m) => m.envelope?.eventId === change.eventId && m.headers['x-dlq-error']?.includes('refused for good'), { timeoutMs: 30_000 });
      await eventually(async () => expect((await operator({ fromFiscalYear: CURRENT_FY, programId: program.programId })).status).toBe(200), 30_000, 200);

      // Another that failed the same way, then replayed (as `npm run dlq -- replay` publishes it: the same envelope)
      // once the cause is gone: applied, nothing missing.
      failing = 'transient';
      const second = await agreement(h, partnerId, false);
      await dlq.waitFor((m) => m.envelope?.eventId === second.eventId, { timeoutMs: 30_000 });
      await eventually(async () => expect((await operator({ fromFiscalYear: CURRENT_FY, programId: program.programId })).status).toBe(503), 30_000, 200);
      failing = null;
      await h.kafka.publish(Topics.agreements, partnerId, second);
      await eventually(async () => {
        const after = await operator({ fromFiscalYear: CURRENT_FY, programId: program.programId });
        expect(after.status).toBe(200);
        expect(after.body).toEqual(expect.objectContaining({ caughtUp: true, complete: true }));
      }, 30_000, 200);
    } finally {
      spy.mockRestore();
    }
  });
});
