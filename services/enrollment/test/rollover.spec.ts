/**
 * The fiscal-year rollover and the renewal reminders, against the real broker and database: the four outcomes
 * from facts published on their topics, enrollments never completed in their year, and a run killed halfway (a real process, SIGKILL) then run again, or stopped
 * halfway (SIGTERM: it ends its batch, and its events are published before the process exits).
 */
import { ALL_TOPICS, Envelope, fiscalYearOf, fiscalYearRange, nextFiscalYear, previousFiscalYear, ProfileEvent, Topics } from '@lib/contracts';
import { eventually, freePort, groupCaughtUp, PROJECT_ROOT, spawnServer, uniqueName, waitFor } from '@lib/testing';
import { Clock, CONFIG } from '@lib/platform';
import { getConnectionToken } from '@nestjs/mongoose';
import type { CommandStartedEvent } from 'mongodb';
import type { Connection } from 'mongoose';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { enrollmentId } from '../src/common/ids';
import type { EnrollmentConfig } from '../src/config';
import { EnrollmentsRepository } from '../src/enrollments/enrollments.repository';
import { DiscontinueProgramEnrollments } from '../src/enrollments/usecases/discontinue-program-enrollments.use-case';
import { MarkIneligible } from '../src/enrollments/usecases/mark-ineligible.use-case';
import { ConsumerCatchUp } from '../src/common/consumer-catch-up';
import { RenewalContext } from '../src/rollover/renewal-context';
import { RolloverScheduler } from '../src/rollover/rollover.scheduler';
import {
  agreement,
  approvedProfiles,
  bankProfile,
  call,
  createProgram,
  CURRENT_FY,
  eligibility,
  eligibilityKnown,
  enrollmentEvents,
  enrollmentEventsSettled,
  groupAtEnd,
  Harness,
  NEXT_FY,
  profileEvent,
  profileKnown,
  storedEnrollment,
  TAX_VALID_UNTIL,
  taxProfile,
  waitForEnrollmentEvent,
  withHarness,
  World,
  remindCurrentYear,
  DISTANT_FY,
} from './support';

jest.setTimeout(150_000);

let h: Harness;
let w: World;
// A slow-command threshold turns on the driver's command events, which one test reads (no command here takes a minute).
withHarness((harness, world) => ((h = harness), (w = world)), { MONGO_SLOW_MS: '60000' });

const operator = (path: string, body: unknown) => call(h, 'POST', path, { operator: true, body });

/** The service's enrollments, as stored. */
const col = () => h.db.collection<Record<string, any> & { _id: string }>('enrollments');

/**
 * A completed enrollment as the service stores it: ENROLLED in its year with revision 1 of its bank profile (status
 * ENROLLED), or sent back since by an edit (VALIDATING) or by the new revision's rejection (ACTION_REQUIRED), keeping
 * `enrolledAt` and `validated`.
 */
function completedOnce(
  program: { programId: string; name: string },
  fiscalYear: string,
  partnerId: string,
  locationId: string,
  status: string,
  bankProfileId: string,
  enrolled = true, // false: submitted, never ENROLLED
) {
  return {
    bankProfileId,
    ...storedEnrollment({
      programId: program.programId,
      programName: program.name,
      partnerId,
      locationId,
      fiscalYear,
      status,
      version: 5,
      bankProfileId,
      submittedAt: new Date('2026-01-10T00:00:00Z'),
      ...(enrolled && { enrolledAt: new Date('2026-01-11T00:00:00Z'), validated: { bank: 1 } }),
      missing: status === 'ACTION_REQUIRED' ? ['BANK_PROFILE_NOT_APPROVED'] : [],
    }),
  };
}

/**
 * The operator's rollover of `fromFiscalYear` for the program, with `action` run once right before it inserts the
 * program's first next-year enrollments (after they were decided); then the insert goes on. Returns the run's answer,
 * once `action` is known to have run.
 */
async function rolloverRacedBy(programId: string, fromFiscalYear: string, action: () => Promise<void>) {
  const collection = h.service.app.get<EnrollmentsRepository>(EnrollmentsRepository, { strict: false }).model.collection;
  const insertMany = collection.insertMany.bind(collection);
  let fired = false;
  const spy = jest.spyOn(collection, 'insertMany').mockImplementation((async (docs: Array<{ programId?: string }>, ...rest: unknown[]) => {
    if (!fired && docs.some((d) => d.programId === programId)) {
      fired = true;
      await action();
    }
    return (insertMany as (...args: unknown[]) => unknown)(docs, ...rest);
  }) as never);
  try {
    const summary = await operator('/v1/operator/rollover', { fromFiscalYear, programId });
    expect(fired).toBe(true);
    return summary;
  } finally {
    spy.mockRestore();
  }
}

describe('fiscal-year rollover', () => {
  it('renews and asks for action (tax profile expired) early; expires (agreement inactive; no longer eligible) only once the year is over; reminding first, once', async () => {
    const program = await createProgram(h);
    const { programId } = program;
    const yearEnd = fiscalYearRange(CURRENT_FY).end;
    // L1: still eligible (CURRENT_FY decision only), profiles approved: renewed.
    // L2: tax profile valid today but expired on the first day of NEXT_FY (it expires as CURRENT_FY ends): action required in NEXT_FY.
    // L3: NEXT_FY decision says not eligible: expired.
    // Other partner's location: agreement inactive: expired.
    const cases = [
      { caller: 'admin' as const, partnerId: w.partnerId, locationId: w.L1, tax: {} },
      { caller: 'adminOfOther' as const, partnerId: w.partnerId, locationId: w.L2, tax: { expiresAt: yearEnd.toISOString() } },
      { caller: 'admin' as const, partnerId: w.partnerId, locationId: w.L3, tax: {} },
      { caller: 'otherPartnerAdmin' as const, partnerId: w.otherPartnerId, locationId: w.otherLocation, tax: {} },
    ];
    const ids: string[] = [];
    for (const c of cases) {
      await eligibility(h, { partnerId: c.partnerId }, programId, c.locationId, true);
      await eligibilityKnown(h, programId, c.locationId);
      await approvedProfiles(h, c.partnerId, c.locationId, c.tax);
      const token = await w.token(c.caller);
      const enrolled = await call(h, 'POST', '/v1/enrollments', { token, body: { programId, locationId: c.locationId } });
      const submitted = await call(h, 'POST', `/v1/enrollments/${enrolled.body.enrollmentId}/submit`, { token });
      expect(submitted.body.status).toBe('ENROLLED');
      ids.push(enrolled.body.enrollmentId);
    }
    const [renewing, actionRequired, ineligible, inactive] = ids;
    await eligibility(h, w, programId, w.L3, false, NEXT_FY, ['Competency lapsed']);
    await agreement(h, w.otherPartnerId, false);

    // 30 days before the end of CURRENT_FY: one reminder per enrollment that would not continue (the catch-up makes the
    // decisions and the agreement published just above count).
    const reminders = await remindCurrentYear(h);
    expect(reminders.body).toEqual(expect.objectContaining({ examined: 4, reminded: 3, onTrack: 1, fiscalYearEndsAt: yearEnd.toISOString() }));
    for (const id of [actionRequired, ineligible, inactive]) await waitForEnrollmentEvent(h, id, 'EnrollmentRenewalAtRisk');
    const [atRisk] = await waitForEnrollmentEvent(h, inactive, 'EnrollmentRenewalAtRisk');
    expect(atRisk.envelope!.data).toEqual(expect.objectContaining({ status: 'ENROLLED', reasons: ["The partner's agreement is not active."], outcome: 'EXPIRED', submitted: true }));
    // The tax profile expired: continued as Action required at year end, not dropped (its email says so).
    const [continuesWithAction] = await waitForEnrollmentEvent(h, actionRequired, 'EnrollmentRenewalAtRisk');
    expect(continuesWithAction.envelope!.data).toEqual(expect.objectContaining({ kind: 'WILL_NOT_CONTINUE', outcome: 'ACTION_REQUIRED', missing: ['TAX_PROFILE_EXPIRED'] }));
    // Run again: each told already of what is still the case.
    // (At the same date: on June 30, CURRENT_FY, tomorrow's, has not begun on the real clock.)
    expect((await remindCurrentYear(h)).body).toEqual(expect.objectContaining({ examined: 4, reminded: 0, remindedBefore: 3, onTrack: 1 }));

    // An operator's early run (CURRENT_FY is not over): the ones that continue are continued now; the ones that will
    // not are valid until the year ends (SPEC 1, Enrollment 6): left ENROLLED, unmarked, nothing announced.
    const summary = await operator('/v1/operator/rollover', { fromFiscalYear: CURRENT_FY });
    expect(summary.status).toBe(200);
    expect(summary.body).toEqual(
      expect.objectContaining({ fromFiscalYear: CURRENT_FY, toFiscalYear: NEXT_FY, examined: 4, renewed: 1, actionRequired: 1, expired: 0, leftForYearEnd: 2, conflicts: 0, caughtUp: true, complete: true }),
    );
    await enrollmentEventsSettled(h, { programId }, cases.map((c) => c.locationId));
    for (const id of [inactive, ineligible]) {
      const stored = await h.db.collection('enrollments').findOne({ _id: id } as never);
      expect(stored).toEqual(expect.objectContaining({ status: 'ENROLLED' }));
      expect(stored).not.toHaveProperty('rollover');
      expect(enrollmentEvents(h, id).filter((e) => e.envelope!.type === 'EnrollmentExpired')).toEqual([]);
    }
    const again = await operator('/v1/operator/rollover', { fromFiscalYear: CURRENT_FY });
    expect(again.body).toEqual(expect.objectContaining({ examined: 2, renewed: 0, expired: 0, leftForYearEnd: 2 }));
    // In slices (`limit`): a rerun without `after` would look at the first one left again, for ever; with the
    // `resumeAfter` of the slice before, it goes on from there.
    const [first, second] = [inactive, ineligible].sort();
    const slice = await operator('/v1/operator/rollover', { fromFiscalYear: CURRENT_FY, programId, limit: 1 });
    expect(slice.body).toEqual(expect.objectContaining({ examined: 1, leftForYearEnd: 1, complete: false, resumeAfter: first }));
    const nextSlice = await operator('/v1/operator/rollover', { fromFiscalYear: CURRENT_FY, programId, limit: 1, after: slice.body.resumeAfter });
    expect(nextSlice.body).toEqual(expect.objectContaining({ examined: 1, leftForYearEnd: 1, complete: true }));
    expect(nextSlice.body).not.toHaveProperty('resumeAfter');
    expect((await operator('/v1/operator/rollover', { fromFiscalYear: CURRENT_FY, programId, after: second })).body).toEqual(expect.objectContaining({ examined: 0, complete: true }));

    // A slice asked for just before the year ends, which ends while the run waits for its consumer to catch up: refused
    // then (it would decide as an early run, on a year over).
    const catchUp = h.service.app.get(ConsumerCatchUp);
    const waitOrRefuse = catchUp.waitOrRefuse.bind(catchUp);
    const crossing = jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date(yearEnd.getTime() - 1_000));
    const catchingUp = jest.spyOn(catchUp, 'waitOrRefuse').mockImplementation(async (options) => {
      crossing.mockReturnValue(new Date(yearEnd.getTime() + 1_000));
      return waitOrRefuse(options);
    });
    try {
      const crossed = await operator('/v1/operator/rollover', { fromFiscalYear: CURRENT_FY, programId, limit: 1, after: first });
      expect(crossed.status).toBe(400);
      expect(JSON.stringify(crossed.body)).toContain('after');
    } finally {
      catchingUp.mockRestore();
      crossing.mockRestore();
    }
    expect((await h.db.collection('enrollments').findOne({ _id: second } as never))).not.toHaveProperty('rollover');

    // The run once CURRENT_FY is over expires them.
    const clock = jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date(yearEnd.getTime() + 60_000));
    try {
      // Slices are an early run's: the year over, `after` is refused (nothing decided).
      const sliced = await operator('/v1/operator/rollover', { fromFiscalYear: CURRENT_FY, programId, after: first });
      expect(sliced.status).toBe(400);
      expect(JSON.stringify(sliced.body)).toContain('after');
      // A run stopped at `limit` answers no `resumeAfter` then (it would be refused): the next run goes on by itself.
      const limited = await operator('/v1/operator/rollover', { fromFiscalYear: CURRENT_FY, programId, limit: 1 });
      expect(limited.body).toEqual(expect.objectContaining({ examined: 1, expired: 1, complete: false }));
      expect(limited.body).not.toHaveProperty('resumeAfter');
      const atYearEnd = await operator('/v1/operator/rollover', { fromFiscalYear: CURRENT_FY });
      expect(atYearEnd.body).toEqual(expect.objectContaining({ examined: 1, renewed: 0, actionRequired: 0, expired: 1, leftForYearEnd: 0, unfinished: 0, conflicts: 0, complete: true }));
    } finally {
      clock.mockRestore();
    }

    // Renewed: a new NEXT_FY enrollment, ENROLLED, announced once; the CURRENT_FY one points to it.
    const next = (locationId: string) => enrollmentId({ programId, locationId, fiscalYear: NEXT_FY });
    const [renewed] = await waitForEnrollmentEvent(h, next(w.L1), 'EnrollmentRenewed');
    expect(renewed.key).toBe(w.L1);
    expect(renewed.envelope!.data).toEqual(expect.objectContaining({ status: 'ENROLLED', fiscalYear: NEXT_FY, fromFiscalYear: CURRENT_FY, revision: 1 }));
    const adminToken = await w.token('admin');
    const list = await call(h, 'GET', `/v1/enrollments?locationId=${w.L1}&programId=${programId}`, { token: adminToken });
    expect(list.body.items.map((e: { fiscalYear: string; status: string }) => `${e.fiscalYear} ${e.status}`)).toEqual([`${CURRENT_FY} ENROLLED`, `${NEXT_FY} ENROLLED`]);
    expect(list.body.items[0]).toEqual(expect.objectContaining({ rolledOverTo: next(w.L1), rollover: expect.objectContaining({ outcome: 'RENEWED', toFiscalYear: NEXT_FY }) }));
    expect(list.body.items[1].renewedFrom).toBe(renewing);

    // Expired, with the reason.
    const expiredInactive = await call(h, 'GET', `/v1/enrollments/${inactive}`, { token: await w.token('otherPartnerAdmin') });
    expect(expiredInactive.body).toEqual(expect.objectContaining({ status: 'EXPIRED', statusLabel: 'Expired', reasons: ["The partner's agreement is not active."] }));
    const expiredIneligible = await call(h, 'GET', `/v1/enrollments/${ineligible}`, { token: adminToken });
    expect(expiredIneligible.body.reasons).toEqual([`The location is no longer eligible for ${program.name} in ${NEXT_FY}.`, 'Competency lapsed']);
    for (const id of [inactive, ineligible]) {
      const [expired] = await waitForEnrollmentEvent(h, id, 'EnrollmentExpired');
      expect(expired.envelope!.data.previousStatus).toBe('ENROLLED');
    }

    // Action required in NEXT_FY: only the tax profile falls short.
    const [asked] = await waitForEnrollmentEvent(h, next(w.L2), 'EnrollmentActionRequired');
    expect(asked.envelope!.data).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', fiscalYear: NEXT_FY, fromFiscalYear: CURRENT_FY, missing: ['TAX_PROFILE_EXPIRED'] }));
    const otherAdmin = await w.token('adminOfOther');
    const waiting = await call(h, 'GET', `/v1/enrollments/${next(w.L2)}`, { token: otherAdmin });
    expect(waiting.body).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', nextAction: 'CONTINUE', renewedFrom: actionRequired }));
    expect(waiting.body.reasons[0]).toContain(yearEnd.toLocaleDateString('en-US', { timeZone: 'UTC', year: 'numeric', month: 'long', day: 'numeric' }));
    // The admin renews the tax forms (a new revision, valid longer): Continue, Submit, validation: ENROLLED in NEXT_FY.
    const taxProfileId = waiting.body.proposal.taxProfileId;
    const renewedTax = { profileId: taxProfileId, profileKind: 'TAX' as const, partnerId: w.partnerId, locationId: w.L2, revision: 2, reasons: [], expiresAt: TAX_VALID_UNTIL };
    await profileEvent(h, 'ProfileUpdated', { ...renewedTax, status: 'PENDING_VALIDATION' });
    await eventually(async () => {
      const again = await call(h, 'POST', `/v1/enrollments/${next(w.L2)}/refresh`, { token: otherAdmin, body: {} });
      expect(again.body.nextAction).toBe('SUBMIT');
    });
    expect((await call(h, 'POST', `/v1/enrollments/${next(w.L2)}/submit`, { token: otherAdmin })).body.status).toBe('VALIDATING');
    await profileEvent(h, 'ProfileApproved', { ...renewedTax, status: 'APPROVED' });
    await waitForEnrollmentEvent(h, next(w.L2), 'EnrollmentEnrolled');

    // Running it again changes nothing and announces nothing.
    const last = await operator('/v1/operator/rollover', { fromFiscalYear: CURRENT_FY });
    expect(last.body).toEqual(expect.objectContaining({ examined: 0, renewed: 0, expired: 0, actionRequired: 0, leftForYearEnd: 0 }));
    await enrollmentEventsSettled(h, { programId }, cases.map((c) => c.locationId));
    expect(enrollmentEvents(h, next(w.L1)).map((e) => e.envelope!.type)).toEqual(['EnrollmentRenewed']);
    for (const id of [inactive, ineligible]) {
      expect(enrollmentEvents(h, id).filter((e) => e.envelope!.type === 'EnrollmentExpired')).toHaveLength(1);
    }
  });
});

describe('enrollments never completed in their fiscal year', () => {
  /** One enrollment per status, of this (long past, or not yet ended) fiscal year. */
  const seedUnfinished = async (programId: string, programName: string, fiscalYear: string, statuses: readonly string[]) => {
    const seeded = statuses.map((status, i) =>
      storedEnrollment({
        programId,
        programName,
        partnerId: w.partnerId,
        locationId: `uloc${i}-${fiscalYear}-${w.run}`,
        fiscalYear,
        status,
        version: 2,
        missing: status === 'ACTION_REQUIRED' ? ['TAX_PROFILE_MISSING'] : [],
      }),
    );
    await h.db.collection('enrollments').insertMany(seeded as never[]);
    return seeded;
  };

  /**
   * An enrollment of FY21 submitted in its year (VALIDATING, never ENROLLED) with a bank and a tax profile of the
   * location pending validation, known to the service.
   */
  const validatingInFY21 = async (program: { programId: string; name: string }, locationId: string, bankFields: Partial<ProfileEvent> = {}) => {
    const bank = bankProfile(w.partnerId, { locationIds: [locationId], ...bankFields });
    const tax = taxProfile(w.partnerId, locationId);
    for (const profile of [bank, tax]) {
      await profileEvent(h, 'ProfileSubmittedForValidation', profile);
      await profileKnown(h, profile);
    }
    const enrollment = storedEnrollment({
      programId: program.programId,
      programName: program.name,
      partnerId: w.partnerId,
      locationId,
      fiscalYear: 'FY21',
      status: 'VALIDATING',
      version: 3,
      bankProfileId: bank.profileId,
      taxProfileId: tax.profileId,
      submittedAt: new Date('2021-05-01T00:00:00Z'),
    });
    await col().insertOne(enrollment as never);
    return { enrollment, bank, tax };
  };

  // Its profiles approved after its year ended, before the daily run: a validation that came too late, not a completion.
  it('a submitted one whose profiles are approved after its year ended is not ENROLLED late, and expires', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY21', requiresEligibility: false });
    const { enrollment: late, bank, tax } = await validatingInFY21(program, `late-${w.run}`);
    for (const profile of [bank, tax]) {
      const approved = { ...profile, status: 'APPROVED' as const };
      await profileEvent(h, 'ProfileApproved', approved);
      await profileKnown(h, approved);
    }
    await groupCaughtUp(h.service.env.KAFKA_GROUP_ID, [Topics.payoutProfiles]);
    expect(await h.db.collection('enrollments').findOne({ _id: late._id } as never)).toEqual(expect.objectContaining({ status: 'VALIDATING', version: 3 }));

    const summary = await operator('/v1/operator/rollover', { fromFiscalYear: 'FY21', programId: program.programId });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 1, expired: 1, unfinished: 1, renewed: 0 }));
    const [expired] = await waitForEnrollmentEvent(h, late._id, 'EnrollmentExpired');
    expect(expired.envelope!.data).toEqual(expect.objectContaining({ status: 'EXPIRED', previousStatus: 'VALIDATING' }));
    await enrollmentEventsSettled(h, { programId: program.programId }, [late.locationId]);
    expect(enrollmentEvents(h, late._id).map((m) => m.envelope!.type)).toEqual(['EnrollmentExpired']);
  });

  // Approved in its last minute, consumed after midnight (the rollover waits for its consumers for that): completed in
  // time. One whose tax profile was approved only after midnight was not.
  it('a submitted one whose profiles were approved within its year, the news arriving after it ended, is ENROLLED as of the approval; approved after, it is not', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY21', requiresEligibility: false });
    const inYear = new Date('2021-06-30T23:59:00Z');
    const afterYear = new Date('2021-07-01T00:01:00Z');
    const seeded = await Promise.all(
      ['intime', 'split'].map(async (name) => ({
        ...(await validatingInFY21(program, `${name}-${w.run}`, { version: 1 })),
        taxApprovedAt: name === 'intime' ? inYear : afterYear,
      })),
    );
    for (const { bank, tax, taxApprovedAt } of seeded) {
      // The bank profile serves one more location after midnight (a later version of the approved revision): its
      // approval stays dated within the year.
      const widened = { ...bank, version: 2, locationIds: [...bank.locationIds!, `other-${w.run}`] };
      const events = [[bank, inYear], [widened, afterYear], [tax, taxApprovedAt]] as const;
      for (const [profile, occurredAt] of events) {
        const approved = { ...profile, status: 'APPROVED' as const };
        await profileEvent(h, 'ProfileApproved', approved, occurredAt);
        await profileKnown(h, approved);
      }
    }
    const [intime, split] = seeded.map((s) => s.enrollment);
    await waitForEnrollmentEvent(h, intime._id, 'EnrollmentEnrolled');
    await groupCaughtUp(h.service.env.KAFKA_GROUP_ID, [Topics.payoutProfiles]);
    expect(await col().findOne({ _id: intime._id })).toEqual(
      expect.objectContaining({ status: 'ENROLLED', enrolledAt: inYear, validated: { bank: 1, tax: 1 }, version: 4 }),
    );
    expect(await col().findOne({ _id: split._id })).toEqual(expect.objectContaining({ status: 'VALIDATING', version: 3 }));

    // The rollover takes the completed one as completed (not unfinished), and expires the other.
    const summary = await operator('/v1/operator/rollover', { fromFiscalYear: 'FY21', programId: program.programId });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 2, unfinished: 1 }));
    await waitForEnrollmentEvent(h, split._id, 'EnrollmentExpired');
    await enrollmentEventsSettled(h, { programId: program.programId }, seeded.map((s) => s.enrollment.locationId));
    expect(enrollmentEvents(h, split._id).map((m) => m.envelope!.type)).toEqual(['EnrollmentExpired']);
    expect(enrollmentEvents(h, intime._id).map((m) => m.envelope!.type)[0]).toBe('EnrollmentEnrolled');
    expect(await col().findOne({ _id: intime._id })).not.toEqual(expect.objectContaining({ status: 'EXPIRED', reasons: ['The fiscal year FY21 ended before the enrollment was completed.'] }));
  });

  // The approval recorded by payout-profiles after midnight (its consumer of the back office's results lagging), decided
  // by the back office before it: the event's decidedAt, not its occurredAt, dates the approval.
  it('a submitted one whose profile the back office approved within its year, recorded after it ended, is ENROLLED as of the decision', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY21', requiresEligibility: false });
    const decidedAt = new Date('2021-06-30T23:50:00Z');
    const { enrollment, bank, tax } = await validatingInFY21(program, `decidedat-${w.run}`, { version: 1 });
    for (const profile of [bank, tax]) {
      const approved = { ...profile, status: 'APPROVED' as const, decidedAt: decidedAt.toISOString() };
      await profileEvent(h, 'ProfileApproved', approved, new Date('2021-07-01T00:20:00Z'));
      await profileKnown(h, approved);
    }
    await waitForEnrollmentEvent(h, enrollment._id, 'EnrollmentEnrolled');
    expect(await col().findOne({ _id: enrollment._id })).toEqual(expect.objectContaining({ status: 'ENROLLED', enrolledAt: decidedAt }));
    // Its year-end run, which takes it as completed (the FY21 runs of the tests below find it done).
    const summary = await operator('/v1/operator/rollover', { fromFiscalYear: 'FY21', programId: program.programId });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 1, unfinished: 0, complete: true }));
  });

  // Events count by when they happened, not when this service consumed them (a lagging consumer, a late publisher).
  it('an ineligible decision made after their year leaves them to the rollover (EXPIRED); one made within it ends them INELIGIBLE, also consumed late', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY21', requiresEligibility: true });
    const { enrollment: after } = await validatingInFY21(program, `decided-after-${w.run}`);
    const { enrollment: within } = await validatingInFY21(program, `decided-within-${w.run}`);
    await eligibility(h, w, program.programId, after.locationId, false, 'FY21', ['Competency lapsed']);
    await eligibility(h, w, program.programId, within.locationId, false, 'FY21', ['Competency lapsed'], new Date('2021-06-30T23:00:00Z'));
    await eligibilityKnown(h, program.programId, after.locationId, 'FY21', false);
    await eligibilityKnown(h, program.programId, within.locationId, 'FY21', false);
    const [ended] = await waitForEnrollmentEvent(h, within._id, 'EnrollmentIneligible');
    expect(ended.envelope!.data).toEqual(expect.objectContaining({ status: 'INELIGIBLE', reasons: ['Competency lapsed'] }));
    await groupCaughtUp(h.service.env.KAFKA_GROUP_ID, [Topics.eligibility]);
    await enrollmentEventsSettled(h, { programId: program.programId }, [after.locationId, within.locationId]);
    expect(await col().findOne({ _id: after._id })).toEqual(expect.objectContaining({ status: 'VALIDATING', version: 3 }));
    expect(enrollmentEvents(h, after._id)).toEqual([]);

    const summary = await operator('/v1/operator/rollover', { fromFiscalYear: 'FY21', programId: program.programId });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 1, expired: 1, unfinished: 1 }));
    await waitForEnrollmentEvent(h, after._id, 'EnrollmentExpired');
    await enrollmentEventsSettled(h, { programId: program.programId }, [after.locationId, within.locationId]);
    expect(enrollmentEvents(h, after._id).map((m) => m.envelope!.type)).toEqual(['EnrollmentExpired']);
    expect(enrollmentEvents(h, within._id).map((m) => m.envelope!.type)).toEqual(['EnrollmentIneligible']);
  });

  // Not eligible from 23:00, approved at 23:30, both consumed after midnight: consumed in time, the decision would
  // have ended it before the approval.
  it('a late approval does not complete one whose location was decided not eligible before it', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY21', requiresEligibility: true });
    const locationId = `ineligible-first-${w.run}`;
    // The decision is known before the enrollment is (nothing to end then): only the approval's handling meets both.
    await eligibility(h, w, program.programId, locationId, false, 'FY21', ['Competency lapsed'], new Date('2021-06-30T23:00:00Z'));
    await eligibilityKnown(h, program.programId, locationId, 'FY21', false);
    const { enrollment, bank, tax } = await validatingInFY21(program, locationId);
    for (const profile of [bank, tax]) {
      const approved = { ...profile, status: 'APPROVED' as const };
      await profileEvent(h, 'ProfileApproved', approved, new Date('2021-06-30T23:30:00Z'));
      await profileKnown(h, approved);
    }
    await groupCaughtUp(h.service.env.KAFKA_GROUP_ID, [Topics.payoutProfiles]);
    await enrollmentEventsSettled(h, { programId: program.programId }, [locationId]);
    expect(await col().findOne({ _id: enrollment._id })).toEqual(expect.objectContaining({ status: 'VALIDATING', version: 3 }));
    expect(enrollmentEvents(h, enrollment._id)).toEqual([]);
    // Never completed: the rollover expires it (the other specs' runs of FY21 find nothing of it left).
    expect((await operator('/v1/operator/rollover', { fromFiscalYear: 'FY21', programId: program.programId })).body).toEqual(expect.objectContaining({ expired: 1, unfinished: 1 }));
    await waitForEnrollmentEvent(h, enrollment._id, 'EnrollmentExpired');
  });

  it('expire once their year is over, with the reason, once; final ones are left as they are', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY21', requiresEligibility: false });
    const seeded = await seedUnfinished(program.programId, program.name, 'FY21', ['INVITED', 'ACTION_REQUIRED', 'VALIDATING', 'INELIGIBLE', 'DISCONTINUED']);

    const summary = await operator('/v1/operator/rollover', { fromFiscalYear: 'FY21' });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 3, expired: 3, unfinished: 3, renewed: 0, actionRequired: 0, conflicts: 0, complete: true }));
    const col = h.db.collection<{ _id: string; status: string; reasons: string[]; missing: string[] }>('enrollments');
    const after = new Map((await col.find({ _id: { $in: seeded.map((e) => e._id) } } as never).toArray()).map((e) => [e._id, e]));
    for (const [i, e] of seeded.entries()) {
      const stored = after.get(e._id)!;
      if (i < 3) {
        expect(stored).toEqual(expect.objectContaining({ status: 'EXPIRED', reasons: ['The fiscal year FY21 ended before the enrollment was completed.'], missing: e.missing }));
        const [expired] = await waitForEnrollmentEvent(h, e._id, 'EnrollmentExpired');
        expect(expired.envelope!.data).toEqual(expect.objectContaining({ status: 'EXPIRED', previousStatus: e.status }));
      } else {
        expect(stored.status).toBe(e.status);
      }
    }
    // Nothing continues into FY22, and a rerun finds nothing left.
    expect(await col.countDocuments({ programId: program.programId, fiscalYear: 'FY22' } as never)).toBe(0);
    expect((await operator('/v1/operator/rollover', { fromFiscalYear: 'FY21' })).body).toEqual(expect.objectContaining({ examined: 0, expired: 0 }));
    await enrollmentEventsSettled(h, { programId: program.programId }, seeded.map((e) => e.locationId));
    for (const e of seeded) expect(enrollmentEvents(h, e._id).filter((m) => m.envelope!.type === 'EnrollmentExpired')).toHaveLength(seeded.indexOf(e) < 3 ? 1 : 0);
  });

  it("are limited to one program's when the operator names it; an unknown program is 404", async () => {
    const [one, other] = [await createProgram(h, { fiscalYear: 'FY20', requiresEligibility: false }), await createProgram(h, { fiscalYear: 'FY20', requiresEligibility: false })];
    const [mine] = await seedUnfinished(one.programId, one.name, 'FY20', ['INVITED']);
    const [theirs] = await seedUnfinished(other.programId, other.name, 'FY20', ['INVITED']);
    const col = h.db.collection<{ _id: string; status: string }>('enrollments');
    const status = async (id: string) => (await col.findOne({ _id: id } as never))?.status;

    const scoped = await operator('/v1/operator/rollover', { fromFiscalYear: 'FY20', programId: one.programId });
    expect(scoped.body).toEqual(expect.objectContaining({ programId: one.programId, examined: 1, expired: 1, complete: true }));
    expect([await status(mine._id), await status(theirs._id)]).toEqual(['EXPIRED', 'INVITED']);

    const unknown = await operator('/v1/operator/rollover', { fromFiscalYear: 'FY20', programId: 'no-such-program' });
    expect(unknown.status).toBe(404);
    expect(await status(theirs._id)).toBe('INVITED');

    expect((await operator('/v1/operator/rollover', { fromFiscalYear: 'FY20' })).body).toEqual(expect.objectContaining({ examined: 1, expired: 1 }));
    expect(await status(theirs._id)).toBe('EXPIRED');
  });

  it('are left alone by a run before their year ends (an operator continuing the ENROLLED ones early)', async () => {
    const program = await createProgram(h, { fiscalYear: DISTANT_FY, requiresEligibility: false });
    const [waiting] = await seedUnfinished(program.programId, program.name, DISTANT_FY, ['ACTION_REQUIRED']);
    expect((await operator('/v1/operator/rollover', { fromFiscalYear: DISTANT_FY })).body).toEqual(expect.objectContaining({ examined: 0, expired: 0, unfinished: 0 }));
    expect(await h.db.collection('enrollments').findOne({ _id: waiting._id } as never)).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', version: 2 }));
  });

  // A reminder says the enrollment expires when its year ends unless completed: sent after that end, it is untrue.
  // FY11: a year of this test's own (the killed rollover below rolls FY13 over, every program's).
  it('are not sent once their year is over: 409 fiscal-year-ended, nothing written', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY11', requiresEligibility: false });
    const [waiting] = await seedUnfinished(program.programId, program.name, 'FY11', ['ACTION_REQUIRED']);
    const refused = await operator('/v1/operator/renewal-reminders', { fiscalYear: 'FY11' });
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(refused.body).toMatchObject({ type: expect.stringMatching(/fiscal-year-ended$/), fiscalYear: 'FY11', fiscalYearEndedAt: '2011-07-01T00:00:00.000Z' });
    const stored = await h.db.collection('enrollments').findOne({ _id: waiting._id } as never);
    expect(stored).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', version: waiting.version }));
    expect(stored?.renewalReminders ?? []).toEqual([]);
  });

  // Each enrollment is reminded once of what it tells: one sent months before its days would stand for the one due then.
  it('are not sent before their days (RENEWAL_REMINDER_DAYS before the year ends): 409 reminders-not-due, nothing written', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY49', requiresEligibility: false });
    const [waiting] = await seedUnfinished(program.programId, program.name, 'FY49', ['ACTION_REQUIRED']);
    const early = jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date('2048-12-01T00:00:00Z'));
    const refused = await operator('/v1/operator/renewal-reminders', { fiscalYear: 'FY49' }).finally(() => early.mockRestore());
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ type: expect.stringMatching(/reminders-not-due$/), fiscalYear: 'FY49', remindersFrom: '2049-06-01T00:00:00.000Z' });
    // A retry can succeed then: Retry-After, the seconds until then (182 days).
    expect(refused.headers.get('retry-after')).toBe(String(182 * 86_400));
    const stored = await h.db.collection('enrollments').findOne({ _id: waiting._id } as never);
    expect(stored).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', version: waiting.version }));
    expect(stored?.renewalReminders ?? []).toEqual([]);
  });

  // On MongoDB, a scan of the (fiscalYear, status) index meets an enrollment at its status: one whose status changes
  // while the run reads (a profile approved: VALIDATING -> ENROLLED) can move behind the scan and be skipped, or
  // ahead of it and be read twice. The scans are pinned to indexes of keys no write moves an entry back into: the
  // reminders' to (fiscalYear, _id), the rollover's to the year's enrollments not decided yet (fiscalYear,
  // rollover.outcome, _id), which its own marks take out of the range (a daily run after the year's is done reads
  // what is left, not the whole year).
  it('are read, with the completed ones, in one scan of the year, by the rollover (of those not decided yet) and the reminders alike', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY12', requiresEligibility: false });
    const seeded = await seedUnfinished(program.programId, program.name, 'FY12', ['ACTION_REQUIRED', 'VALIDATING']);
    const client = h.service.app.get<Connection>(getConnectionToken()).getClient();
    const scans: Array<Record<string, unknown>> = [];
    const record = (event: CommandStartedEvent) => {
      if (event.commandName === 'find' && event.command.find === 'enrollments' && event.command.filter?.fiscalYear === 'FY12') scans.push(event.command);
    };
    client.on('commandStarted', record);
    try {
      // Reminders while FY12 runs (the service's clock in it); the rollover once it is over.
      const inYear = jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date('2012-06-01T00:00:00Z'));
      const reminded = await operator('/v1/operator/renewal-reminders', { fiscalYear: 'FY12' }).finally(() => inYear.mockRestore());
      expect(reminded.body).toEqual(expect.objectContaining({ examined: 2, reminded: 2 }));
      const rolled = await operator('/v1/operator/rollover', { fromFiscalYear: 'FY12' });
      expect(rolled.body).toEqual(expect.objectContaining({ examined: 2, expired: 2, complete: true }));
    } finally {
      client.off('commandStarted', record);
    }
    // The reminders' scan, then the rollover's review of what an early run continued (the year being over; the flagged
    // ones only, first, on an index of its own: not a second scan of the whole year), and its own scan.
    expect(scans.map((scan) => (scan.filter as Record<string, unknown>)['rollover.early'] === true)).toEqual([false, true, false]);
    expect(scans.map((scan) => scan.hint)).toEqual([{ fiscalYear: 1, _id: 1 }, { fiscalYear: 1, 'rollover.early': 1, _id: 1 }, { fiscalYear: 1, 'rollover.outcome': 1, _id: 1 }]);
    expect((scans[2].filter as Record<string, unknown>)['rollover.outcome']).toBeNull();
    const indexes = await h.db.collection('enrollments').indexes();
    expect(indexes.map((index) => index.key)).toEqual(
      expect.arrayContaining([{ fiscalYear: 1, _id: 1 }, { fiscalYear: 1, 'rollover.early': 1, _id: 1 }, { fiscalYear: 1, 'rollover.outcome': 1, _id: 1 }]),
    );
    const col = h.db.collection<{ _id: string; status: string }>('enrollments');
    for (const e of seeded) expect((await col.findOne({ _id: e._id } as never))?.status).toBe('EXPIRED');
  });

  it("are not read by the reminders' scan when only invited (never started by Enroll): the invitation is their reminder", async () => {
    const program = await createProgram(h, { fiscalYear: 'FY35', requiresEligibility: false });
    const [started, invited] = await seedUnfinished(program.programId, program.name, 'FY35', ['ACTION_REQUIRED', 'INVITED']);
    await h.db.collection('enrollments').updateOne({ _id: invited._id } as never, { $unset: { evaluatedAt: '' } });
    const client = h.service.app.get<Connection>(getConnectionToken()).getClient();
    const scans: Array<Record<string, unknown>> = [];
    const record = (event: CommandStartedEvent) => {
      if (event.commandName === 'find' && event.command.find === 'enrollments' && event.command.filter?.fiscalYear === 'FY35') scans.push(event.command.filter);
    };
    client.on('commandStarted', record);
    const inYear = jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date('2035-06-01T00:00:00Z'));
    try {
      const reminded = await operator('/v1/operator/renewal-reminders', { fiscalYear: 'FY35' });
      expect(reminded.body).toEqual(expect.objectContaining({ examined: 1, reminded: 1 }));
    } finally {
      inYear.mockRestore();
      client.off('commandStarted', record);
    }
    expect(scans).toHaveLength(1);
    const read = await h.db.collection('enrollments').find(scans[0]).toArray();
    expect(read.map((e) => e._id)).toEqual([started._id]);
  });
});

/** A bank profile in the service's profile view, its current revision in this status (as the consumer writes it). */
async function bankInView(profileId: string, partnerId: string, revision: number, status: 'APPROVED' | 'PENDING_VALIDATION' | 'ACTION_REQUIRED') {
  await h.db.collection('profile_view').insertOne({
    _id: profileId,
    kind: 'BANK',
    partnerId,
    revision,
    rank: status === 'PENDING_VALIDATION' ? 2 * revision : 2 * revision + 1,
    status,
    reasons: status === 'ACTION_REQUIRED' ? ['The IBAN does not match the beneficiary.'] : [],
    currency: 'USD',
    paymentMethod: 'ELECTRONIC_BANK_TRANSFER',
    updatedAt: new Date(),
  } as never);
}

/**
 * An enrollment of `program` completed in `fiscalYear` at a location of its own (`tag`), stored as `status`, and its
 * bank profile in the view (`bank`: its revision and status).
 */
async function seededCompleted(
  program: { programId: string; name: string },
  fiscalYear: string,
  tag: string,
  { status = 'ENROLLED', bank = [1, 'APPROVED'] }: { status?: string; bank?: [number, Parameters<typeof bankInView>[3]] } = {},
) {
  const locationId = `${tag}loc-${w.run}`;
  const bankProfileId = `${tag}bank-${w.run}`;
  await bankInView(bankProfileId, w.partnerId, bank[0], bank[1]);
  const seeded = completedOnce(program, fiscalYear, w.partnerId, locationId, status, bankProfileId);
  await col().insertOne(seeded as never);
  return { locationId, seeded };
}

const usdRules = { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER' as const], taxProfileRequired: false };

describe('enrollments ENROLLED once and back in validation (a profile edited, or its new revision rejected)', () => {
  afterEach(() => jest.restoreAllMocks()); // a clock mocked by a test that failed midway

  it('are decided at year end like completed ones: continued (action required while the profile is not approved), renewed, or expired with the real reason', async () => {
    // The year before the current one, continued into the current one: the continuation follows validation in its year
    // (a never-completed enrollment of a year that is over no longer does: the rollover's).
    const [FROM, TO] = [previousFiscalYear(CURRENT_FY), CURRENT_FY];
    const program = await createProgram(h, { fiscalYear: FROM, requiresEligibility: false, payoutRules: usdRules });
    const [partner, inactive] = [`rv-${w.run}`, `rv-inactive-${w.run}`];
    const bank = (name: string) => `rvbank-${name}-${w.run}`;
    await bankInView(bank('pending'), partner, 2, 'PENDING_VALIDATION');
    await bankInView(bank('rejected'), partner, 2, 'ACTION_REQUIRED');
    await bankInView(bank('approved'), partner, 2, 'APPROVED');
    await bankInView(bank('inactive'), inactive, 2, 'PENDING_VALIDATION');
    // Inactive as TO began (the rollover reads the agreement as the new year began).
    await h.db.collection('agreement_view').insertOne({ _id: inactive, active: false, changedAt: fiscalYearRange(FROM).start } as never);
    const seeded = {
      validating: completedOnce(program, FROM, partner, `rv1-${w.run}`, 'VALIDATING', bank('pending')),
      rejected: completedOnce(program, FROM, partner, `rv2-${w.run}`, 'ACTION_REQUIRED', bank('rejected')),
      approvedSince: completedOnce(program, FROM, partner, `rv3-${w.run}`, 'VALIDATING', bank('approved')),
      agreementInactive: completedOnce(program, FROM, inactive, `rv4-${w.run}`, 'VALIDATING', bank('inactive')),
      neverEnrolled: completedOnce(program, FROM, partner, `rv5-${w.run}`, 'VALIDATING', bank('pending'), false),
      // Another bank profile chosen after ENROLLED: back to the proposal (INVITED, not submitted since), enrolledAt kept.
      chosenSince: completedOnce(program, FROM, partner, `rv6-${w.run}`, 'INVITED', bank('approved')),
    };
    delete (seeded.chosenSince as Record<string, unknown>).submittedAt;
    delete (seeded.chosenSince as Record<string, unknown>).validated;
    await col().insertMany(Object.values(seeded) as never[]);
    const next = (e: { locationId: string }) => enrollmentId({ programId: program.programId, locationId: e.locationId, fiscalYear: TO });

    // FROM is over, as on every day but June 30 (CURRENT_FY is tomorrow's year): then the run happens after midnight.
    const yearOver = fiscalYearRange(FROM).end.getTime() + 60_000;
    const clock = jest.spyOn(h.service.app.get(Clock), 'now').mockImplementation(() => new Date(Math.max(Date.now(), yearOver)));
    const summary = await operator('/v1/operator/rollover', { fromFiscalYear: FROM, programId: program.programId }).finally(() => clock.mockRestore());
    expect(summary.body).toEqual(
      expect.objectContaining({ examined: 6, renewed: 2, validating: 2, actionRequired: 0, expired: 2, unfinished: 1, discontinued: 0, conflicts: 0, complete: true }),
    );

    // The profile's current revision waits for validation, or was rejected: the payout information is all there, so
    // continued into the next year with no action (SPEC 1, Enrollment 6), submitted by the rollover and following validation;
    // never ENROLLED with the old revision.
    const [inValidation] = await waitForEnrollmentEvent(h, next(seeded.validating), 'EnrollmentValidating');
    expect(inValidation.envelope!.data).toEqual(expect.objectContaining({ status: 'VALIDATING', fiscalYear: TO, missing: [], reasons: [] }));
    // Rejected: EnrollmentRejected (correcting the profile is enough), with the year it continues.
    const [asked] = await waitForEnrollmentEvent(h, next(seeded.rejected), 'EnrollmentRejected');
    expect(asked.envelope!.data.fromFiscalYear).toBe(FROM);
    expect(inValidation.envelope!.data.fromFiscalYear).toBe(FROM);
    expect(asked.envelope!.data).toEqual(
      expect.objectContaining({ status: 'ACTION_REQUIRED', fiscalYear: TO, missing: ['BANK_PROFILE_NOT_APPROVED'], reasons: ['Bank profile: The IBAN does not match the beneficiary.'] }),
    );
    for (const [e, status] of [[seeded.validating, 'VALIDATING'], [seeded.rejected, 'ACTION_REQUIRED']] as const) {
      const continued = await col().findOne({ _id: next(e) });
      expect(continued).toEqual(expect.objectContaining({ status, renewedFrom: e._id, bankProfileId: e.bankProfileId, submittedBy: 'rollover', submittedAt: expect.any(Date) }));
      expect(continued).not.toHaveProperty('validated');
      expect(continued).not.toHaveProperty('enrolledAt');
      // The ended year's one stays as it was, marked.
      expect(await col().findOne({ _id: e._id })).toEqual(expect.objectContaining({ status: e.status, rollover: expect.objectContaining({ outcome: status }) }));
    }
    // The validator approves the pending revision: the next year's enrollment follows it to ENROLLED, with no Submit.
    await profileEvent(h, 'ProfileApproved', bankProfile(partner, { profileId: bank('pending'), revision: 2, status: 'APPROVED' }));
    await waitForEnrollmentEvent(h, next(seeded.validating), 'EnrollmentEnrolled');
    expect(await col().findOne({ _id: next(seeded.validating) })).toEqual(expect.objectContaining({ status: 'ENROLLED', validated: { bank: 2 }, enrolledAt: expect.any(Date) }));
    // Its new revision was approved (the ended year's enrollment had not followed yet): renewed, validated with revision 2.
    const [renewed] = await waitForEnrollmentEvent(h, next(seeded.approvedSince), 'EnrollmentRenewed');
    expect(renewed.envelope!.data).toEqual(expect.objectContaining({ status: 'ENROLLED', fiscalYear: TO, fromFiscalYear: FROM }));
    expect(await col().findOne({ _id: next(seeded.approvedSince) })).toEqual(expect.objectContaining({ status: 'ENROLLED', validated: { bank: 2 } }));
    // Its year was completed before the admin chose another bank profile: continued with that one (approved), not
    // expired as never completed (an ineligible decision leaves it too: MarkIneligible).
    await waitForEnrollmentEvent(h, next(seeded.chosenSince), 'EnrollmentRenewed');
    expect(await col().findOne({ _id: next(seeded.chosenSince) })).toEqual(
      expect.objectContaining({ status: 'ENROLLED', bankProfileId: bank('approved'), validated: { bank: 2 }, renewedFrom: seeded.chosenSince._id }),
    );
    expect(await col().findOne({ _id: seeded.chosenSince._id })).toEqual(expect.objectContaining({ status: 'INVITED', rollover: expect.objectContaining({ outcome: 'RENEWED' }) }));
    // Not continued for what the rollover checks besides the profiles: expired with that reason, not "never completed".
    const [expired] = await waitForEnrollmentEvent(h, seeded.agreementInactive._id, 'EnrollmentExpired');
    expect(expired.envelope!.data).toEqual(expect.objectContaining({ status: 'EXPIRED', previousStatus: 'VALIDATING', reasons: ["The partner's agreement is not active."] }));
    // Never ENROLLED: never completed, as before.
    expect(await col().findOne({ _id: seeded.neverEnrolled._id })).toEqual(
      expect.objectContaining({ status: 'EXPIRED', reasons: [`The fiscal year ${FROM} ended before the enrollment was completed.`] }),
    );
    expect(await col().countDocuments({ _id: next(seeded.neverEnrolled) })).toBe(0);

    expect((await operator('/v1/operator/rollover', { fromFiscalYear: FROM, programId: program.programId })).body).toEqual(expect.objectContaining({ examined: 0 }));
  });

  it("are judged on the partner's agreement as the new year began, whenever the run: lapsed then and reactivated since, expired; ended after, continued", async () => {
    const [FROM, TO] = ['FY22', 'FY23'];
    const program = await createProgram(h, { fiscalYear: FROM, requiresEligibility: false, payoutRules: usdRules });
    const [lapsed, endedAfter] = [`ag-lapsed-${w.run}`, `ag-after-${w.run}`];
    const bank = (partnerId: string) => `${partnerId}-bank`;
    const seeded = [lapsed, endedAfter].map((partnerId) => completedOnce(program, FROM, partnerId, `${partnerId}-loc`, 'ENROLLED', bank(partnerId)));
    for (const partnerId of [lapsed, endedAfter]) await bankInView(bank(partnerId), partnerId, 2, 'APPROVED');
    await col().insertMany(seeded as never[]);
    const { start } = fiscalYearRange(TO);
    const day = 24 * 3600_000;
    // Reactivated two days into TO, published first; its lapse two weeks before TO began arrives after it.
    await agreement(h, lapsed, true, new Date(+start + 2 * day));
    await agreement(h, lapsed, false, new Date(+start - 14 * day));
    await agreement(h, endedAfter, false, new Date(+start + 3 * day));

    const summary = await operator('/v1/operator/rollover', { fromFiscalYear: FROM, programId: program.programId });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 2, renewed: 1, expired: 1, complete: true }));
    const [expired] = await waitForEnrollmentEvent(h, seeded[0]._id, 'EnrollmentExpired');
    expect(expired.envelope!.data).toEqual(expect.objectContaining({ status: 'EXPIRED', reasons: ["The partner's agreement is not active."] }));
    const continuation = enrollmentId({ programId: program.programId, locationId: seeded[1].locationId, fiscalYear: TO });
    expect(await col().findOne({ _id: continuation })).toEqual(expect.objectContaining({ status: 'ENROLLED', renewedFrom: seeded[1]._id }));
    // The view keeps both of the lapsed partner's statuses, the reactivation current.
    expect(await h.db.collection('agreement_view').findOne({ _id: lapsed } as never)).toEqual(
      expect.objectContaining({ active: true, earlier: [expect.objectContaining({ active: false, changedAt: new Date(+start - 14 * day) })] }),
    );
  });

  it('continue into a next-year enrollment that had ended INELIGIBLE (as Enroll restarts one); one enrolled on its own is only marked', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY31', requiresEligibility: false, payoutRules: usdRules });
    const partner = `ri-${w.run}`;
    const bank = `ribank-${w.run}`;
    await bankInView(bank, partner, 2, 'APPROVED');
    // A bank profile in euros, which the program does not allow: continued waiting for the admin.
    const euros = `riboank-eur-${w.run}`;
    await h.db.collection('profile_view').insertOne({ _id: euros, kind: 'BANK', partnerId: partner, revision: 1, rank: 3, status: 'APPROVED', reasons: [], currency: 'EUR', paymentMethod: 'ELECTRONIC_BANK_TRANSFER', updatedAt: new Date() } as never);
    const [restarted, onItsOwn] = [`ri1-${w.run}`, `ri2-${w.run}`].map((locationId) => completedOnce(program, 'FY31', partner, locationId, 'ENROLLED', bank));
    const inEuros = completedOnce(program, 'FY31', partner, `ri3-${w.run}`, 'ENROLLED', euros);
    // Enrolled on its own in FY32, then back to a proposal (another bank profile chosen after a rejection): the admin's.
    const backToProposal = completedOnce(program, 'FY31', partner, `ri4-${w.run}`, 'ENROLLED', bank);
    const nextYear = (e: { locationId: string }, status: string, extra: Record<string, unknown> = {}) =>
      storedEnrollment({ programId: program.programId, programName: program.name, partnerId: partner, locationId: e.locationId, fiscalYear: 'FY32', status, version: 3, bankProfileId: bank, reasons: status === 'INELIGIBLE' ? ['The invitation was revoked.'] : [], ...extra });
    // Ended INELIGIBLE while it was being validated: it carries that old submission and a tax profile.
    const oldSubmission = { submittedAt: new Date('2031-08-01T00:00:00Z'), submittedBy: 'someone', taxProfileId: 'stale-tax' };
    await col().insertMany([
      restarted,
      onItsOwn,
      inEuros,
      nextYear(restarted, 'INELIGIBLE', oldSubmission),
      nextYear(onItsOwn, 'ENROLLED'),
      nextYear(inEuros, 'INELIGIBLE', oldSubmission),
      backToProposal,
      nextYear(backToProposal, 'INVITED', { enrolledAt: new Date('2031-09-01T00:00:00Z') }),
    ] as never[]);

    const summary = await operator('/v1/operator/rollover', { fromFiscalYear: 'FY31', programId: program.programId });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 4, renewed: 1, actionRequired: 1, superseded: 2, conflicts: 0 }));
    // The one in euros: ACTION_REQUIRED for the admin, with nothing of the old submission (it would look submitted).
    const euroNext = await col().findOne({ _id: enrollmentId({ programId: program.programId, locationId: inEuros.locationId, fiscalYear: 'FY32' }) });
    expect(euroNext).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', bankProfileId: euros, missing: ['CURRENCY_NOT_ALLOWED'], renewedFrom: inEuros._id, renewedAs: 'ACTION_REQUIRED' }));
    for (const field of ['submittedAt', 'submittedBy', 'taxProfileId', 'validated', 'enrolledAt']) expect(euroNext).not.toHaveProperty(field);
    const next = enrollmentId({ programId: program.programId, locationId: restarted.locationId, fiscalYear: 'FY32' });
    const [renewed] = await waitForEnrollmentEvent(h, next, 'EnrollmentRenewed');
    expect(renewed.envelope!.data).toEqual(expect.objectContaining({ status: 'ENROLLED', fiscalYear: 'FY32', reasons: [] }));
    expect(await col().findOne({ _id: next })).toEqual(expect.objectContaining({ status: 'ENROLLED', renewedFrom: restarted._id, version: 4, validated: { bank: 2 }, submittedBy: 'rollover' }));
    expect(await col().findOne({ _id: next })).not.toHaveProperty('taxProfileId');
    expect(await col().findOne({ _id: restarted._id })).toEqual(expect.objectContaining({ rollover: expect.objectContaining({ outcome: 'RENEWED' }) }));
    const own = enrollmentId({ programId: program.programId, locationId: onItsOwn.locationId, fiscalYear: 'FY32' });
    expect(await col().findOne({ _id: own })).toEqual(expect.objectContaining({ status: 'ENROLLED', version: 3 }));
    expect(await col().findOne({ _id: onItsOwn._id })).toEqual(expect.objectContaining({ rollover: expect.objectContaining({ outcome: 'SUPERSEDED' }) }));
    const admins = enrollmentId({ programId: program.programId, locationId: backToProposal.locationId, fiscalYear: 'FY32' });
    expect(await col().findOne({ _id: admins })).toEqual(expect.objectContaining({ status: 'INVITED', version: 3, enrolledAt: new Date('2031-09-01T00:00:00Z') }));
    expect(await col().findOne({ _id: backToProposal._id })).toEqual(expect.objectContaining({ rollover: expect.objectContaining({ outcome: 'SUPERSEDED' }) }));
  });

  it("are continued by the daily job in a trace of its own: the run's id is their events' correlation and causation id", async () => {
    // The job's "now" pinned, so that the year it rolls over is this one even if midnight of July 1 falls meanwhile.
    const at = new Date();
    const clock = jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(at);
    const fiscalYear = previousFiscalYear(fiscalYearOf(at)); // the year the job rolls over
    const program = await createProgram(h, { fiscalYear, requiresEligibility: false, payoutRules: usdRules });
    const partner = `rj-${w.run}`;
    const bank = `rjbank-${w.run}`;
    await bankInView(bank, partner, 1, 'APPROVED');
    const seeded = [`rj1-${w.run}`, `rj2-${w.run}`].map((locationId) => completedOnce(program, fiscalYear, partner, locationId, 'ENROLLED', bank));
    await col().insertMany(seeded as never[]);

    try {
      expect(await h.service.app.get(RolloverScheduler).runOnce()).toBe(true);
    } finally {
      clock.mockRestore();
    }
    const to = nextFiscalYear(fiscalYear);
    const envelopes = [];
    for (const e of seeded) {
      const [renewed] = await waitForEnrollmentEvent(h, enrollmentId({ programId: program.programId, locationId: e.locationId, fiscalYear: to }), 'EnrollmentRenewed');
      envelopes.push(renewed.envelope!);
    }
    const [first, second] = envelopes;
    expect(first.correlationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(first.causationId).toBe(first.correlationId);
    expect([second.correlationId, second.causationId]).toEqual([first.correlationId, first.correlationId]);
  });

  it('are reminded before year end when they would not continue, and continued by an early run; never enrolled ones are reminded they expire, and left to the year end', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY45', requiresEligibility: false, payoutRules: usdRules });
    const partner = `rw-${w.run}`;
    const bank = (name: string) => `rwbank-${name}-${w.run}`;
    await bankInView(bank('pending'), partner, 2, 'PENDING_VALIDATION');
    await bankInView(bank('rejected'), partner, 2, 'ACTION_REQUIRED');
    await bankInView(bank('approved'), partner, 2, 'APPROVED');
    const validating = completedOnce(program, 'FY45', partner, `rw1-${w.run}`, 'VALIDATING', bank('pending'));
    const rejected = completedOnce(program, 'FY45', partner, `rw2-${w.run}`, 'ACTION_REQUIRED', bank('rejected'));
    const approvedSince = completedOnce(program, 'FY45', partner, `rw3-${w.run}`, 'VALIDATING', bank('approved'));
    const notEnrolled = completedOnce(program, 'FY45', partner, `rw4-${w.run}`, 'ACTION_REQUIRED', bank('rejected'), false);
    // Only invited (Enroll never called): the invitation is its reminder.
    const onlyInvited = storedEnrollment({ programId: program.programId, programName: program.name, partnerId: partner, locationId: `rw5-${w.run}`, fiscalYear: 'FY45', status: 'INVITED', version: 1 });
    delete (onlyInvited as Record<string, unknown>).evaluatedAt;
    await col().insertMany([validating, rejected, approvedSince, notEnrolled, onlyInvited] as never[]);

    // In FY45 (a year of this test's own), its last month: reminders are sent for a year that has begun.
    jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date('2045-06-01T00:00:00Z'));
    const reminders = await operator('/v1/operator/renewal-reminders', { fiscalYear: 'FY45' });
    expect(reminders.body).toEqual(expect.objectContaining({ examined: 4, reminded: 2, onTrack: 2, conflicts: 0 }));
    // Rejected: at risk until the profile is fixed. Pending validation: continues with no action (on track).
    const [atRisk] = await waitForEnrollmentEvent(h, rejected._id, 'EnrollmentRenewalAtRisk');
    expect(atRisk.envelope!.data.kind).toBe('WILL_NOT_CONTINUE');
    expect(atRisk.envelope!.data).toEqual(
      expect.objectContaining({ status: 'ACTION_REQUIRED', missing: ['BANK_PROFILE_NOT_APPROVED'], reasons: ['Bank profile: The IBAN does not match the beneficiary.'] }),
    );
    // Never completed: it will expire with its year (SPEC 1, Enrollment 7: reminded when it will not continue).
    const [expiring] = await waitForEnrollmentEvent(h, notEnrolled._id, 'EnrollmentRenewalAtRisk');
    expect(expiring.envelope!.data.kind).toBe('NOT_COMPLETED');
    expect(expiring.envelope!.data).toEqual(
      expect.objectContaining({
        status: 'ACTION_REQUIRED',
        missing: ['BANK_PROFILE_NOT_APPROVED'],
        // Submitted, then its profile rejected: what is left is correcting it.
        reasons: ['The enrollment is not completed: it expires when FY45 ends unless its profiles are corrected and validated before.'],
      }),
    );
    await enrollmentEventsSettled(h, { programId: program.programId }, [onlyInvited.locationId, validating.locationId]);
    expect(enrollmentEvents(h, onlyInvited._id)).toEqual([]);
    expect(enrollmentEvents(h, validating._id)).toEqual([]);
    expect((await operator('/v1/operator/renewal-reminders', { fiscalYear: 'FY45' })).body).toEqual(expect.objectContaining({ examined: 4, reminded: 0, remindedBefore: 2, onTrack: 2 }));

    // FY45 is not over: an operator's early run continues the completed ones only.
    const early = await operator('/v1/operator/rollover', { fromFiscalYear: 'FY45', programId: program.programId });
    expect(early.body).toEqual(expect.objectContaining({ examined: 3, renewed: 1, validating: 2, actionRequired: 0, expired: 0, unfinished: 0, complete: true }));
    const next = (e: { locationId: string }) => enrollmentId({ programId: program.programId, locationId: e.locationId, fiscalYear: 'FY46' });
    const statuses = async (ids: string[]) => (await col().find({ _id: { $in: ids } } as never).toArray()).map((e) => `${e.locationId} ${e.fiscalYear} ${e.status}`).sort();
    expect(await statuses([validating, rejected, approvedSince].map(next))).toEqual([
      `${validating.locationId} FY46 VALIDATING`,
      `${rejected.locationId} FY46 ACTION_REQUIRED`,
      `${approvedSince.locationId} FY46 ENROLLED`,
    ]);
    expect(await col().findOne({ _id: notEnrolled._id })).toEqual(expect.objectContaining({ status: 'ACTION_REQUIRED', version: 6, renewalReminders: ['FY45', 'FY45:NOT_COMPLETED'] }));
    expect(await col().findOne({ _id: notEnrolled._id })).not.toHaveProperty('rollover');
    expect(await col().countDocuments({ _id: next(notEnrolled) })).toBe(0);
  });

  it('are sent again when what they would tell changed: completed after a reminder it was not, then its agreement ended', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY47', requiresEligibility: false, payoutRules: usdRules });
    const partner = `rr-${w.run}`;
    const bank = `rrbank-approved-${w.run}`;
    await bankInView(bank, partner, 2, 'APPROVED');
    const started = completedOnce(program, 'FY47', partner, `rr1-${w.run}`, 'ACTION_REQUIRED', bank, false);
    // Reminded by a release that marked the year alone: not again.
    const remindedBefore = { ...completedOnce(program, 'FY47', partner, `rr2-${w.run}`, 'ACTION_REQUIRED', bank, false), renewalReminders: ['FY47'] };
    await col().insertMany([started, remindedBefore] as never[]);
    jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date('2047-06-01T00:00:00Z'));
    const remind = async () => (await operator('/v1/operator/renewal-reminders', { fiscalYear: 'FY47' })).body;
    const atRisk = async (count: number) => (await waitForEnrollmentEvent(h, started._id, 'EnrollmentRenewalAtRisk', count)).map((e) => e.envelope!.data);

    expect(await remind()).toEqual(expect.objectContaining({ reminded: 1, remindedBefore: 1 }));
    expect((await atRisk(1))[0]).toEqual(expect.objectContaining({ kind: 'NOT_COMPLETED' }));
    expect(await remind()).toEqual(expect.objectContaining({ reminded: 0, remindedBefore: 2 }));

    // The admin completed it (ENROLLED): on track, nothing to tell.
    await col().updateOne({ _id: started._id } as never, { $set: { status: 'ENROLLED', enrolledAt: new Date('2047-06-02T00:00:00Z'), validated: { bank: 2 }, missing: [] } });
    expect(await remind()).toEqual(expect.objectContaining({ reminded: 0, remindedBefore: 1, onTrack: 1 }));
    // Then the partner's agreement ended: it will not continue, which no reminder told.
    await agreement(h, partner, false);
    expect(await remind()).toEqual(expect.objectContaining({ reminded: 1, remindedBefore: 1 }));
    const told = await atRisk(2);
    expect(told[1]).toEqual(expect.objectContaining({ kind: 'WILL_NOT_CONTINUE', outcome: 'EXPIRED', reasons: ["The partner's agreement is not active."] }));
    expect(await remind()).toEqual(expect.objectContaining({ reminded: 0, remindedBefore: 2 }));
    // Each mark beside the year alone, which a release before these reads as reminded (it reminds none again).
    const stored = await col().findOne({ _id: started._id } as never);
    expect(stored!.renewalReminders).toEqual(['FY47', 'FY47:NOT_COMPLETED', expect.stringMatching(/^FY47:WILL_NOT_CONTINUE:[0-9a-f]{16}$/)]);
    expect((await col().findOne({ _id: remindedBefore._id } as never))!.renewalReminders).toEqual(['FY47']);
  });

  it('tell one not completed whose partner has no active agreement that it will not continue, and why, not to complete it (Submit refuses it)', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY48', requiresEligibility: false, payoutRules: usdRules });
    const partner = `ra-${w.run}`;
    const bank = `rabank-approved-${w.run}`;
    await bankInView(bank, partner, 2, 'APPROVED');
    const unfinished = completedOnce(program, 'FY48', partner, `ra1-${w.run}`, 'ACTION_REQUIRED', bank, false);
    await col().insertMany([unfinished] as never[]);
    await agreement(h, partner, false);
    jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date('2048-06-01T00:00:00Z'));
    expect((await operator('/v1/operator/renewal-reminders', { fiscalYear: 'FY48' })).body).toEqual(expect.objectContaining({ reminded: 1 }));
    const [told] = (await waitForEnrollmentEvent(h, unfinished._id, 'EnrollmentRenewalAtRisk', 1)).map((e) => e.envelope!.data);
    expect(told).toEqual(expect.objectContaining({ kind: 'WILL_NOT_CONTINUE', outcome: 'EXPIRED', reasons: ["The partner's agreement is not active."], missing: [] }));
  });

  it('are not sent for a fiscal year that has not begun (409): each enrollment is reminded once a year', async () => {
    const early = await operator('/v1/operator/renewal-reminders', { fiscalYear: DISTANT_FY });
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ type: expect.stringMatching(/fiscal-year-not-started$/), fiscalYear: DISTANT_FY });
  });
});

describe('a program discontinued during a rollover', () => {
  const service = <T>(token: unknown) => h.service.app.get<T>(token as never, { strict: false });

  /** `count` ENROLLED enrollments of the program in `fiscalYear`, each of which would renew. */
  async function seedEnrolled(program: { programId: string; name: string }, fiscalYear: string, count: number, tag: string) {
    const partner = `dp-${tag}-${w.run}`;
    const bankProfileId = `dpbank-${tag}-${w.run}`;
    await bankInView(bankProfileId, partner, 1, 'APPROVED');
    const seeded = Array.from({ length: count }, (_, i) => completedOnce(program, fiscalYear, partner, `dploc${i}-${tag}-${w.run}`, 'ENROLLED', bankProfileId));
    await col().insertMany(seeded as never[]);
    return seeded;
  }

  /**
   * The operator discontinues the program (PATCH), and its discontinuation sweep, run when the service consumes its
   * own ProgramUpdated, goes to its end; resolves once that sweep is over. Nothing sweeps again after that.
   */
  function discontinuer(programId: string) {
    const sweeps: Array<Promise<number>> = [];
    const original = DiscontinueProgramEnrollments.prototype.execute;
    const spy = jest.spyOn(DiscontinueProgramEnrollments.prototype, 'execute').mockImplementation(function (this: DiscontinueProgramEnrollments, ...args) {
      const sweep = original.apply(this, args);
      if (args[0] === programId) sweeps.push(sweep);
      return sweep;
    });
    const discontinueNow = async () => {
      const read = await call(h, 'GET', `/v1/programs/${programId}`, { token: await w.token('incentivesUser') });
      const patched = await call(h, 'PATCH', `/v1/programs/${programId}`, { operator: true, body: { state: 'DISCONTINUED' }, headers: { 'if-match': read.headers.get('etag')! } });
      expect(patched.status).toBe(200);
      await waitFor('the discontinuation sweep', async () => sweeps.length > 0, { timeoutMs: 30_000, intervalMs: 10 });
      await sweeps[0];
    };
    return { discontinueNow, sweeps, restore: () => spy.mockRestore() };
  }

  // Its discontinuation not through (its sweep dead-lettered): never marked by a run, they were read first by every run
  // in `_id` order, and a run with `limit` once the year is over (no `after` then) never got past them.
  it('left to a discontinuation not through yet, are counted and not read: a run with `limit` gets past them', async () => {
    const [gone, open] = [
      await createProgram(h, { fiscalYear: 'FY15', requiresEligibility: false, payoutRules: usdRules }),
      await createProgram(h, { fiscalYear: 'FY15', requiresEligibility: false, payoutRules: usdRules }),
    ];
    await h.db.collection('programs').updateOne({ _id: gone.programId } as never, { $set: { state: 'DISCONTINUED' } });
    // The discontinued program's enrollments first in `_id` order, more than the run's limit.
    const bankProfileId = `dpbank-first-${w.run}`;
    await bankInView(bankProfileId, `dp-first-${w.run}`, 1, 'APPROVED');
    const firstInOrder = [0, 1, 2].map((i) => ({
      ...completedOnce(gone, 'FY15', `dp-first-${w.run}`, `dploc${i}-first-${w.run}`, 'ENROLLED', bankProfileId),
      _id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    }));
    await col().insertMany(firstInOrder as never[]);
    const [later] = await seedEnrolled(open, 'FY15', 1, 'then');
    const summary = await operator('/v1/operator/rollover', { fromFiscalYear: 'FY15', limit: 2 });
    expect(summary.status).toBe(200);
    expect(summary.body).toEqual(expect.objectContaining({ discontinued: 3, examined: 1, renewed: 1, complete: true }));
    expect(await col().findOne({ _id: later._id } as never)).toHaveProperty('rollover.outcome', 'RENEWED');
  });

  it('later batches continue nothing of it: their enrollments are left to the discontinuation, and a rerun finds nothing', async () => {
    const batchSize = service<EnrollmentConfig>(CONFIG).ROLLOVER_BATCH_SIZE;
    const program = await createProgram(h, { fiscalYear: 'FY37', requiresEligibility: false, payoutRules: usdRules });
    const seeded = await seedEnrolled(program, 'FY37', batchSize + 10, 'mid');
    const { discontinueNow, restore } = discontinuer(program.programId);
    // The operator discontinues the program while the run reads its second batch; the sweep is over before that batch
    // is decided.
    const context = service<RenewalContext>(RenewalContext);
    const load = context.load.bind(context);
    const batches: string[][] = [];
    const spy = jest.spyOn(context, 'load').mockImplementation(async (batch, ...rest) => {
      if (batch[0]?.programId === program.programId) {
        batches.push(batch.map((e) => e._id));
        if (batches.length === 2) await discontinueNow();
      }
      return load(batch, ...rest);
    });
    let summary;
    try {
      summary = await operator('/v1/operator/rollover', { fromFiscalYear: 'FY37', programId: program.programId });
    } finally {
      spy.mockRestore();
      restore();
    }
    expect(batches.map((b) => b.length)).toEqual([batchSize, 10]);
    // Nothing of the program is left going, in either year: no next-year enrollment outlives the discontinuation.
    const left = await col().find({ programId: program.programId, status: { $ne: 'DISCONTINUED' } } as never).toArray();
    expect(left.map((e) => `${e.fiscalYear} ${e.status}`)).toEqual([]);
    // The second batch's: not continued (no FY38 enrollment, no mark), ended by the discontinuation once.
    const late = batches[1];
    expect(await col().countDocuments({ renewedFrom: { $in: late } } as never)).toBe(0);
    expect(summary.body).toEqual(expect.objectContaining({ examined: seeded.length, expired: 0, conflicts: 0, complete: true }));
    expect(summary.body.discontinued).toBeGreaterThanOrEqual(10);
    expect(summary.body.renewed + summary.body.discontinued).toBe(seeded.length);
    for (const id of late) {
      const [ended] = await waitForEnrollmentEvent(h, id, 'EnrollmentDiscontinued');
      expect(ended.envelope!.data.previousStatus).toBe('ENROLLED');
      expect(await col().findOne({ _id: id })).not.toHaveProperty('rollover');
    }
    // A rerun changes nothing.
    expect((await operator('/v1/operator/rollover', { fromFiscalYear: 'FY37', programId: program.programId })).body).toEqual(
      expect.objectContaining({ examined: 0, renewed: 0, discontinued: 0 }),
    );
    await enrollmentEventsSettled(h, { programId: program.programId }, (await col().find({ _id: { $in: late } } as never).toArray()).map((e) => e.locationId));
    for (const id of late) expect(enrollmentEvents(h, id).map((e) => e.envelope!.type)).toEqual(['EnrollmentDiscontinued']);
  });

  it('discontinued after the batch was checked and swept before its inserts landed: the run ends what it continued', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY39', requiresEligibility: false, payoutRules: usdRules });
    const seeded = await seedEnrolled(program, 'FY39', 3, 'late');
    const { discontinueNow, restore } = discontinuer(program.programId);
    let summary;
    try {
      summary = await rolloverRacedBy(program.programId, 'FY39', discontinueNow);
    } finally {
      restore();
    }
    expect(summary.body).toEqual(expect.objectContaining({ examined: 3, renewed: 3, conflicts: 0, complete: true }));
    const all = await col().find({ programId: program.programId } as never).toArray();
    expect(all.map((e) => `${e.fiscalYear} ${e.status}`).sort()).toEqual([...seeded.map(() => 'FY39 DISCONTINUED'), ...seeded.map(() => 'FY40 DISCONTINUED')]);
    // Dated by the discontinuation (the program's last change), as the program's own sweep dates it: not left out.
    const discontinuedAt = ((await h.db.collection('programs').findOne({ _id: program.programId } as never))!.updatedAt as Date).toISOString();
    for (const e of seeded) {
      const [ended] = await waitForEnrollmentEvent(h, enrollmentId({ programId: program.programId, locationId: e.locationId, fiscalYear: 'FY40' }), 'EnrollmentDiscontinued');
      expect(ended.envelope!.data.discontinuedAt).toBe(discontinuedAt);
    }
    expect((await operator('/v1/operator/rollover', { fromFiscalYear: 'FY39', programId: program.programId })).body).toEqual(expect.objectContaining({ examined: 0 }));
  });
});

describe('a profile edited while the rollover writes the batch that uses it', () => {
  it('the renewals, inserted after the edit reached the profile view, follow it: back to VALIDATING, with their event', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY41', requiresEligibility: false, payoutRules: usdRules });
    const partnerId = `pe-${w.run}`;
    const bankProfileId = `pebank-${w.run}`;
    await bankInView(bankProfileId, partnerId, 1, 'APPROVED');
    const seeded = Array.from({ length: 2 }, (_, i) => completedOnce(program, 'FY41', partnerId, `peloc${i}-${w.run}`, 'ENROLLED', bankProfileId));
    await col().insertMany(seeded as never[]);

    // Right before the batch's inserts: the partner edits the profile (revision 2, to validate), and the service has
    // recorded it in its view (and looked for the enrollments using it: the FY42 ones do not exist yet).
    const summary = await rolloverRacedBy(program.programId, 'FY41', async () => {
      await profileEvent(h, 'ProfileUpdated', bankProfile(partnerId, { profileId: bankProfileId, revision: 2, status: 'PENDING_VALIDATION' }));
      await waitFor('the edit in the profile view', async () => (await h.db.collection('profile_view').findOne({ _id: bankProfileId as never }))?.revision === 2, { timeoutMs: 30_000, intervalMs: 20 });
    });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 2, renewed: 2, complete: true }));
    for (const e of seeded) {
      const next = enrollmentId({ programId: program.programId, locationId: e.locationId, fiscalYear: 'FY42' });
      expect(await col().findOne({ _id: next })).toMatchObject({ status: 'VALIDATING', renewedFrom: e._id });
      await waitForEnrollmentEvent(h, next, 'EnrollmentValidating');
    }
  });
});

describe('an ineligible decision recorded while the rollover writes the batch it concerns', () => {
  it('ends the continuation it never reached (inserted after the decision looked for it): INELIGIBLE, with its event', async () => {
    const program = await createProgram(h, { fiscalYear: 'FY43', requiresEligibility: true, payoutRules: usdRules });
    // A new revision of its bank profile is being validated: the continuation follows it (VALIDATING).
    const { locationId, seeded } = await seededCompleted(program, 'FY43', 'el', { status: 'VALIDATING', bank: [2, 'PENDING_VALIDATION'] });
    await eligibility(h, w, program.programId, locationId, true, 'FY43');
    await eligibilityKnown(h, program.programId, locationId, 'FY43');

    let lost: Envelope | undefined;
    const summary = await rolloverRacedBy(program.programId, 'FY43', async () => {
      lost = await eligibility(h, w, program.programId, locationId, false, 'FY44', ['Partner designation lost']);
      await eligibilityKnown(h, program.programId, locationId, 'FY44', false);
    });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 1, complete: true }));
    const next = enrollmentId({ programId: program.programId, locationId, fiscalYear: 'FY44' });
    expect(await col().findOne({ _id: next })).toMatchObject({ status: 'INELIGIBLE', reasons: ['Partner designation lost'], renewedFrom: seeded._id });
    const [ended] = await waitForEnrollmentEvent(h, next, 'EnrollmentIneligible');
    // Naming the decision that ended it.
    expect(ended.envelope!.data.decision).toEqual({ eventId: lost!.eventId, decidedAt: new Date(lost!.occurredAt).toISOString(), position: { partition: expect.any(Number), offset: expect.stringMatching(/^\d+$/) } });
  });
});

describe('a program renamed while the rollover writes its batch', () => {
  it("gives the continuations it inserted after the renaming the program's new name", async () => {
    const program = await createProgram(h, { fiscalYear: 'FY45', requiresEligibility: false, payoutRules: usdRules });
    const { locationId, seeded } = await seededCompleted(program, 'FY45', 'ren');
    const renamed = `${program.name} (renamed)`;

    await rolloverRacedBy(program.programId, 'FY45', async () => {
      const read = await call(h, 'GET', `/v1/programs/${program.programId}`, { token: await w.token('incentivesUser') });
      const patched = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { name: renamed }, headers: { 'if-match': read.headers.get('etag')! } });
      expect(patched.status).toBe(200);
      // Its enrollments renamed (the service consumed its own ProgramUpdated) before the continuation is inserted.
      await eventually(async () => expect(await col().findOne({ _id: seeded._id })).toMatchObject({ programName: renamed }));
    });
    const next = enrollmentId({ programId: program.programId, locationId, fiscalYear: 'FY46' });
    expect(await col().findOne({ _id: next })).toMatchObject({ status: 'ENROLLED', programName: renamed });
  });
});

// Renewed on last year's decision (none published for the new year yet: eligibility carries forward until a decision says
// otherwise). The new year's first decision still counts: ineligible, the continuation was not "still eligible" (SPEC 1
// Enrollment 6), also ENROLLED; an eligible one confirms it, and a later ineligible one leaves it as any completed one.
describe('a continuation renewed on an earlier year\'s eligibility', () => {
  // The year just over, into the one running now: the new year's decisions come within it.
  const RUNNING_FY = fiscalYearOf(new Date());
  const ENDED_FY = previousFiscalYear(RUNNING_FY);
  // The service's clock held within RUNNING_FY, should the run reach midnight of July 1: that year's decisions are
  // then still of a year that is not over.
  const runningYearEnd = fiscalYearRange(RUNNING_FY).end.getTime();
  beforeEach(() => jest.spyOn(h.service.app.get(Clock), 'now').mockImplementation(() => new Date(Math.min(Date.now(), runningYearEnd - 1))));
  afterEach(() => jest.restoreAllMocks());

  /** An enrollment completed in the year just over, eligible that year, none decided for the next yet; and its next id. */
  async function completedInEndedYear(tag: string) {
    const program = await createProgram(h, { fiscalYear: ENDED_FY, requiresEligibility: true, payoutRules: usdRules });
    const { locationId, seeded } = await seededCompleted(program, ENDED_FY, `car-${tag}-`);
    await eligibility(h, w, program.programId, locationId, true, ENDED_FY);
    await eligibilityKnown(h, program.programId, locationId, ENDED_FY);
    return { program, locationId, seeded, next: enrollmentId({ programId: program.programId, locationId, fiscalYear: RUNNING_FY }) };
  }

  async function renewedOnCarried(tag: string) {
    const { program, locationId, seeded, next } = await completedInEndedYear(tag);
    const summary = await operator('/v1/operator/rollover', { fromFiscalYear: ENDED_FY, programId: program.programId });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 1, renewed: 1, complete: true }));
    expect(await col().findOne({ _id: next })).toMatchObject({ status: 'ENROLLED', eligibilityCarried: true, renewedFrom: seeded._id });
    return { program, locationId, next, seeded };
  }

  it("ends INELIGIBLE, no longer completed, on the new year's first decision saying not eligible", async () => {
    const { program, locationId, next, seeded } = await renewedOnCarried('ended');
    await eligibility(h, w, program.programId, locationId, false, RUNNING_FY, ['Partner designation lost']);
    const [ended] = await waitForEnrollmentEvent(h, next, 'EnrollmentIneligible');
    expect(ended.envelope!.data).toMatchObject({ status: 'INELIGIBLE', previousStatus: 'ENROLLED', completed: false, reasons: ['Partner designation lost'], decision: { eventId: expect.any(String) } });
    const stored = await col().findOne({ _id: next });
    expect(stored).toMatchObject({ status: 'INELIGIBLE', reasons: ['Partner designation lost'], renewedFrom: seeded._id });
    for (const field of ['enrolledAt', 'submittedAt', 'submittedBy', 'validated', 'eligibilityCarried']) expect(stored).not.toHaveProperty(field);
    // The year it continued from is left as it was: completed, and marked as continued.
    expect(await col().findOne({ _id: seeded._id })).toMatchObject({ status: 'ENROLLED', rollover: expect.objectContaining({ outcome: 'RENEWED' }) });
  });

  it('stays ENROLLED once an eligible decision of the new year confirmed it, whatever that year decides later', async () => {
    const { program, locationId, next } = await renewedOnCarried('confirmed');
    await eligibility(h, w, program.programId, locationId, true, RUNNING_FY);
    await eligibilityKnown(h, program.programId, locationId, RUNNING_FY);
    await eventually(async () => expect(await col().findOne({ _id: next })).not.toHaveProperty('eligibilityCarried'));
    await eligibility(h, w, program.programId, locationId, false, RUNNING_FY, ['Later change']);
    await eligibilityKnown(h, program.programId, locationId, RUNNING_FY, false);
    await enrollmentEventsSettled(h, { locationId }, [locationId]);
    expect(await col().findOne({ _id: next })).toMatchObject({ status: 'ENROLLED', enrolledAt: expect.any(Date) });
    expect(h.watch.messages.filter((m) => m.envelope?.type === 'EnrollmentIneligible' && (m.envelope?.data as { enrollmentId?: string }).enrollmentId === next)).toEqual([]);
  });

  // The confirmation changes no version (the flag is the rollover's own): the ending's write, guarded by the version it
  // read, matched all the same, and ended a continuation the partner's newest decision says is eligible.
  it('stays ENROLLED when an eligible decision confirms it between the read and the write of an ineligible one ending it', async () => {
    const { program, locationId, next } = await renewedOnCarried('confirmed-between');
    const repository = h.service.app.get<EnrollmentsRepository>(EnrollmentsRepository, { strict: false });
    const update = repository.update.bind(repository);
    let confirmedBetween = false;
    jest.spyOn(repository, 'update').mockImplementation(async (current, ...rest) => {
      if (current._id === next && !confirmedBetween) {
        confirmedBetween = true;
        await repository.confirmCarried(next);
      }
      return update(current, ...rest);
    });
    const decision = { partnerId: w.partnerId, programId: program.programId, locationId, fiscalYear: RUNNING_FY, eligible: false, reasons: ['Partner designation lost'] };
    await h.service.app.get(MarkIneligible, { strict: false }).execute(decision, new Date(), `ineligible-${w.run}`);
    expect(confirmedBetween).toBe(true);
    const stored = await col().findOne({ _id: next });
    expect(stored).toMatchObject({ status: 'ENROLLED', enrolledAt: expect.any(Date) });
    expect(stored).not.toHaveProperty('eligibilityCarried');
  });

  it("is not confirmed by an eligible decision naming another partner for its location (not known here yet): its own partner's later ineligible one ends it", async () => {
    const { program, locationId, next } = await renewedOnCarried('foreign');
    await eligibility(h, { partnerId: `other-${w.run}` }, program.programId, locationId, true, RUNNING_FY);
    // On the same key, after it: read once the other partner's decision was.
    await eligibility(h, w, program.programId, locationId, false, RUNNING_FY, ['Partner designation lost']);
    await waitForEnrollmentEvent(h, next, 'EnrollmentIneligible');
    expect(await col().findOne({ _id: next })).toMatchObject({ status: 'INELIGIBLE', partnerId: w.partnerId, reasons: ['Partner designation lost'] });
  });

  it("ends INELIGIBLE on the new year's decision recorded while the run inserted it (the decision looked for it before it existed)", async () => {
    const { program, locationId, seeded, next } = await completedInEndedYear('race');
    const summary = await rolloverRacedBy(program.programId, ENDED_FY, async () => {
      await eligibility(h, w, program.programId, locationId, false, RUNNING_FY, ['Partner designation lost']);
      await eligibilityKnown(h, program.programId, locationId, RUNNING_FY, false);
    });
    expect(summary.body).toEqual(expect.objectContaining({ examined: 1, renewed: 1, complete: true }));
    const stored = await col().findOne({ _id: next });
    expect(stored).toMatchObject({ status: 'INELIGIBLE', reasons: ['Partner designation lost'], renewedFrom: seeded._id });
    for (const field of ['enrolledAt', 'eligibilityCarried']) expect(stored).not.toHaveProperty(field);
    const [ended] = await waitForEnrollmentEvent(h, next, 'EnrollmentIneligible');
    expect(ended.envelope!.data).toMatchObject({ previousStatus: 'ENROLLED', completed: false, decision: { eventId: expect.any(String) } });
  });

  it("is confirmed by the new year's eligible decision recorded while the run inserted it: a later ineligible one leaves it", async () => {
    const { program, locationId, next } = await completedInEndedYear('confirmed-race');
    await rolloverRacedBy(program.programId, ENDED_FY, async () => {
      await eligibility(h, w, program.programId, locationId, true, RUNNING_FY);
      await eligibilityKnown(h, program.programId, locationId, RUNNING_FY);
    });
    const stored = await col().findOne({ _id: next });
    expect(stored).toMatchObject({ status: 'ENROLLED' });
    expect(stored).not.toHaveProperty('eligibilityCarried');
    await eligibility(h, w, program.programId, locationId, false, RUNNING_FY, ['Later change']);
    await eligibilityKnown(h, program.programId, locationId, RUNNING_FY, false);
    await enrollmentEventsSettled(h, { locationId }, [locationId]);
    expect(await col().findOne({ _id: next })).toMatchObject({ status: 'ENROLLED', enrolledAt: expect.any(Date) });
  });
});

// The rollover leaves an enrollment whose next year the admin enrolled on their own (submitted, or ENROLLED once): it
// only marks it SUPERSEDED. Its payout information falling short of the rules is then no risk to tell its admins of.
describe('renewal reminders of an enrollment whose next year is enrolled on its own', () => {
  /** The operator's reminders of `year`, the service's clock in their days (the year's last ten). */
  async function remindersInTheirDays(year: string) {
    const inTheirDays = jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date(fiscalYearRange(year).end.getTime() - 10 * 86_400_000));
    return operator('/v1/operator/renewal-reminders', { fiscalYear: year }).finally(() => inTheirDays.mockRestore());
  }

  it('count it on track; one without that next-year enrollment is reminded', async () => {
    const year = fiscalYearOf(new Date());
    const program = await createProgram(h, { fiscalYear: year, requiresEligibility: false, payoutRules: { ...usdRules, allowedCurrencies: ['EUR'] } });
    const [own, alone] = ['own', 'alone'].map((tag) => ({ locationId: `suploc-${tag}-${w.run}`, bankProfileId: `supbank-${tag}-${w.run}` }));
    for (const { bankProfileId } of [own, alone]) await bankInView(bankProfileId, w.partnerId, 1, 'APPROVED'); // USD: no longer allowed
    const seeded = [own, alone].map(({ locationId, bankProfileId }) => completedOnce(program, year, w.partnerId, locationId, 'ENROLLED', bankProfileId));
    const enrolledOnItsOwn = completedOnce(program, nextFiscalYear(year), w.partnerId, own.locationId, 'ENROLLED', own.bankProfileId);
    // The year's other enrollments (of this file's other tests) are counted as they are, the same in both runs: what
    // the second counts more is these two.
    const before = await remindersInTheirDays(year);
    await col().insertMany([...seeded, enrolledOnItsOwn] as never[]);

    const reminders = await remindersInTheirDays(year);
    expect(reminders.body).toEqual(expect.objectContaining({ complete: true, conflicts: 0 }));
    expect([reminders.body.examined - before.body.examined, reminders.body.onTrack - before.body.onTrack, reminders.body.reminded]).toEqual([2, 1, 1]);
    expect(await col().findOne({ _id: seeded[0]._id })).not.toHaveProperty('renewalReminders');
    expect(await col().findOne({ _id: seeded[1]._id })).toMatchObject({ renewalReminders: [year, expect.stringMatching(new RegExp(`^${year}:WILL_NOT_CONTINUE:`))] });
  });

  it('count it on track also once an early run marked it SUPERSEDED', async () => {
    const year = fiscalYearOf(new Date());
    const program = await createProgram(h, { fiscalYear: year, requiresEligibility: false, payoutRules: { ...usdRules, allowedCurrencies: ['EUR'] } });
    const locationId = `supearly-${w.run}`;
    const bankProfileId = `supearlybank-${w.run}`;
    await bankInView(bankProfileId, w.partnerId, 1, 'APPROVED'); // USD: no longer allowed
    const seeded = completedOnce(program, year, w.partnerId, locationId, 'ENROLLED', bankProfileId);
    const enrolledOnItsOwn = completedOnce(program, nextFiscalYear(year), w.partnerId, locationId, 'ENROLLED', bankProfileId);
    const before = await remindersInTheirDays(year);
    await col().insertMany([seeded, enrolledOnItsOwn] as never[]);
    const early = await operator('/v1/operator/rollover', { fromFiscalYear: year, programId: program.programId });
    expect(early.body).toEqual(expect.objectContaining({ complete: true }));
    expect(await col().findOne({ _id: seeded._id })).toMatchObject({ rollover: expect.objectContaining({ outcome: 'SUPERSEDED', early: true }) });

    const reminders = await remindersInTheirDays(year);
    expect(reminders.body).toEqual(expect.objectContaining({ complete: true, conflicts: 0 }));
    // Read and counted on track (not passed over): one more examined, one more on track, nobody reminded.
    expect([reminders.body.examined - before.body.examined, reminders.body.onTrack - before.body.onTrack, reminders.body.reminded]).toEqual([1, 1, 0]);
    expect(await col().findOne({ _id: seeded._id })).not.toHaveProperty('renewalReminders');
    expect(h.watch.messages.filter((m) => m.envelope?.type === 'EnrollmentRenewalAtRisk' && (m.envelope?.data as { enrollmentId?: string }).enrollmentId === seeded._id)).toEqual([]);
  });
});

describe('a rollover killed halfway', () => {
  const N = 1_200;
  // A year that is over: its run expires (the inactive agreement's) as well as continues. An early run would leave
  // those for the year end (leftForYearEnd), unmarked.
  const FROM = 'FY13';
  const TO = 'FY14';

  /** 10 partners: 0-7 renew, 8 has a bank profile not approved (action required), 9 an inactive agreement (expired). */
  async function seed(programId: string, run: string) {
    const now = new Date();
    const partner = (i: number) => `kp${i}-${run}`;
    const bank = (i: number) => `kbank${i}-${run}`;
    await h.db.collection('profile_view').insertMany(
      Array.from({ length: 10 }, (_, i) => ({
        _id: bank(i),
        kind: 'BANK',
        partnerId: partner(i),
        revision: 1,
        rank: i === 8 ? 2 : 3,
        status: i === 8 ? 'PENDING_VALIDATION' : 'APPROVED',
        reasons: [],
        currency: 'USD',
        paymentMethod: 'ELECTRONIC_BANK_TRANSFER',
        updatedAt: now,
      })) as never[],
    );
    await h.db.collection('agreement_view').insertOne({ _id: partner(9), active: false, changedAt: fiscalYearRange(FROM).start } as never);
    const enrollments = Array.from({ length: N }, (_, i) =>
      storedEnrollment({
        programId,
        programName: 'Killed halfway',
        partnerId: partner(i % 10),
        locationId: `kloc${i}-${run}`,
        fiscalYear: FROM,
        status: 'ENROLLED',
        version: 3,
        bankProfileId: bank(i % 10),
        submittedAt: now,
        enrolledAt: now,
      }),
    );
    await h.db.collection('enrollments').insertMany(enrollments as never[]);
    return enrollments;
  }

  /**
   * What `count` reads once it holds still (the same twice, 300 ms apart): a write the killed child sent before it died
   * may still be applied by the server after it exited.
   */
  async function heldStill(count: () => Promise<number>): Promise<number> {
    let now = await count();
    for (let before = -1; before !== now; ) {
      before = now;
      await sleep(300);
      now = await count();
    }
    return now;
  }

  /**
   * The service as its own process, slowed down (small batches, a pause) so that a signal falls in the middle of a run.
   * Its port is chosen free, then bound by the child: one taken in between (by another worker) makes the child exit
   * before it is ready, and it starts again on another. Whatever took the port may answer too (another worker's
   * service): the child is told apart by an operator key of its own (its operator endpoint answers 400 to a bad body,
   * another service 401).
   */
  async function startSlowService() {
    const groupId = uniqueName('enrollment-child');
    const operatorKey = `key-${groupId}`;
    await groupAtEnd(groupId, ALL_TOPICS);
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const child = spawnServer(process.execPath, ['-r', '@swc-node/register', join(PROJECT_ROOT, 'services/enrollment/src/main.ts')], {
        cwd: PROJECT_ROOT,
        env: {
          ...process.env,
          ...h.service.env,
          ...h.issuer.env(),
          PORT: String(port),
          KAFKA_GROUP_ID: groupId,
          ROLLOVER_CRON: 'off',
          ROLLOVER_BATCH_SIZE: '20',
          ROLLOVER_BATCH_PAUSE_MS: '40',
          ROLLOVER_CATCH_UP_TIMEOUT_MS: '0',
          // A killed run's lease on the year holds a rerun off until it runs out (RolloverLease): short here.
          ROLLOVER_LEASE_MS: '2000',
          LOG_LEVEL: 'warn',
          OPERATOR_TOKEN: operatorKey,
        },
        logFile: join(PROJECT_ROOT, '.local', 'logs', `${groupId}.log`),
      });
      const childOperator = (body: unknown, signal?: AbortSignal) =>
        fetch(`http://127.0.0.1:${port}/v1/operator/rollover`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-operator-key': operatorKey },
          body: JSON.stringify(body),
          signal,
        }).catch(() => undefined);
      let gone = false;
      void child.exited.then(() => (gone = true));
      try {
        // Each probe bounded: whatever took the port may hold a request unanswered.
        const ready = () => fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
        const ours = async () => (await childOperator({ fromFiscalYear: 'not a year' }, AbortSignal.timeout(2_000)))?.status === 400;
        await waitFor('enrollment child ready', async () => gone || (((await ready())?.ok ?? false) && (await ours())), {
          timeoutMs: 60_000,
          intervalMs: 200,
        });
      } catch (error) {
        child.child.kill('SIGKILL');
        await child.exited;
        throw error;
      }
      if (gone) {
        if (attempt < 3) continue;
        throw new Error(`the enrollment child exited before it was ready, three times (${child.logFile})`);
      }
      const startRollover = () => void childOperator({ fromFiscalYear: FROM });
      return { child, startRollover };
    }
  }

  const payoutRules = usdRules;

  it('a rerun changes every enrollment exactly once, with one event each', async () => {
    const program = await createProgram(h, { fiscalYear: FROM, requiresEligibility: false, payoutRules });
    const enrollments = await seed(program.programId, w.run);
    // i % 10 === 8: its bank profile is pending validation: continued in validation (VALIDATING, following it).
    const expected = new Map(enrollments.map((e, i) => [e._id, i % 10 === 9 ? 'EXPIRED' : i % 10 === 8 ? 'VALIDATING' : 'RENEWED']));
    const col = h.db.collection<{ _id: string; fiscalYear: string; rollover?: { outcome: string }; renewedFrom?: string; status: string; locationId: string; outbox?: unknown[] }>('enrollments');
    const touched = () => col.countDocuments({ fiscalYear: FROM, programId: program.programId, rollover: { $exists: true } } as never);

    const { child, startRollover } = await startSlowService();
    try {
      startRollover();
      await waitFor('a quarter of the rollover done', async () => (await touched()) >= N / 4, { timeoutMs: 60_000, intervalMs: 20 });
    } finally {
      child.child.kill('SIGKILL');
      await child.exited;
    }
    const marked = await heldStill(touched);
    expect(marked).toBeGreaterThan(0);
    expect(marked).toBeLessThan(N);
    // The kill may also fall between a batch's two writes: its next-year enrollments (with their events) written,
    // the markers on the old ones not yet. Make sure some are in that state: drop the markers of 20 renewed ones.
    const unmarked = (await col.find({ fiscalYear: TO, programId: program.programId } as never).limit(20).toArray()).map((e) => e.renewedFrom!);
    expect(unmarked).toHaveLength(20);
    await col.updateMany({ _id: { $in: unmarked } } as never, { $unset: { rollover: '' } });
    // Continued but not marked: those 20, and any the kill left between a batch's inserts and its marks.
    const continuedFrom = (await col.find({ fiscalYear: TO, programId: program.programId } as never).toArray()).map((e) => e.renewedFrom!);
    const continuedUnmarked = await col.countDocuments({ _id: { $in: continuedFrom }, rollover: { $exists: false } } as never);
    expect(continuedUnmarked).toBeGreaterThanOrEqual(20);

    // The rerun finishes the job: those it only marks (resumed). It is refused (409) until the killed run's lease
    // on the year runs out.
    const rerun = await eventually(async () => {
      const answer = await operator('/v1/operator/rollover', { fromFiscalYear: FROM });
      expect(answer.status).toBe(200);
      return answer;
    }, 15_000, 250);
    expect(rerun.body).toEqual(expect.objectContaining({ complete: true, conflicts: 0, resumed: continuedUnmarked }));
    expect(rerun.body.examined).toBe(N - marked + 20);
    expect((await operator('/v1/operator/rollover', { fromFiscalYear: FROM })).body.examined).toBe(0);

    // Every enrollment changed exactly once, as expected.
    const old = await col.find({ fiscalYear: FROM, programId: program.programId } as never).toArray();
    expect(old).toHaveLength(N);
    for (const e of old) {
      expect(e.rollover?.outcome).toBe(expected.get(e._id));
      expect(e.status).toBe(expected.get(e._id) === 'EXPIRED' ? 'EXPIRED' : 'ENROLLED');
    }
    const nextYear = await col.find({ fiscalYear: TO, programId: program.programId } as never).toArray();
    expect(nextYear).toHaveLength(N - N / 10);
    for (const e of nextYear) {
      expect(e.status).toBe(expected.get(e.renewedFrom!) === 'RENEWED' ? 'ENROLLED' : 'VALIDATING');
    }

    // One event each (an event relayed twice around the kill keeps its id: consumers see it once).
    const origin = new Map(nextYear.map((e) => [e._id, e.renewedFrom!]));
    const eventsOf = () => {
      const perEnrollment = new Map<string, Set<string>>();
      for (const m of h.watch.find<{ enrollmentId: string; programId: string }>((m) => m.topic === Topics.enrollments && m.envelope?.data.programId === program.programId)) {
        const from = m.envelope!.type === 'EnrollmentExpired' ? m.envelope!.data.enrollmentId : origin.get(m.envelope!.data.enrollmentId)!;
        perEnrollment.set(from, (perEnrollment.get(from) ?? new Set()).add(`${m.envelope!.type}:${m.envelope!.eventId}`));
      }
      return perEnrollment;
    };
    // Every event written is on the watch first: a duplicate the rerun published late must not pass unseen.
    await enrollmentEventsSettled(h, { programId: program.programId }, old.map((e) => e.locationId));
    const published = eventsOf();
    expect(published.size).toBe(N);
    const typeOf = { RENEWED: 'EnrollmentRenewed', VALIDATING: 'EnrollmentValidating', EXPIRED: 'EnrollmentExpired' } as Record<string, string>;
    for (const [from, events] of published) {
      expect([...events].map((e) => e.split(':')[0])).toEqual([typeOf[expected.get(from)!]]);
    }
    await eventually(async () => expect(await col.countDocuments({ programId: program.programId, 'outbox.0': { $exists: true } } as never)).toBe(0), 30_000, 250);
  });

  it('stopped by SIGTERM halfway, it ends the batch it is writing and its events are published before the process exits; a rerun does the rest', async () => {
    const program = await createProgram(h, { fiscalYear: FROM, requiresEligibility: false, payoutRules });
    await seed(program.programId, `${w.run}t`);
    const col = h.db.collection<{ _id: string; fiscalYear: string; rollover?: { outcome: string }; renewedFrom?: string }>('enrollments');
    const touched = () => col.countDocuments({ fiscalYear: FROM, programId: program.programId, rollover: { $exists: true } } as never);

    const { child, startRollover } = await startSlowService();
    let exit: Awaited<typeof child.exited>;
    try {
      startRollover();
      await waitFor('a quarter of the rollover done', async () => (await touched()) >= N / 4, { timeoutMs: 60_000, intervalMs: 20 });
      child.child.kill('SIGTERM');
      exit = await child.exited;
    } finally {
      child.child.kill('SIGKILL');
      await child.exited;
    }
    expect(exit).toEqual({ code: 0, signal: null });
    const marked = await heldStill(touched);
    expect(marked).toBeGreaterThan(0);
    expect(marked).toBeLessThan(N);

    // The run stopped between two batches, before the consumer flushed the outbox and the database closed: every
    // event it committed is published (no outbox left), and every next-year enrollment's origin is marked.
    expect(await col.countDocuments({ programId: program.programId, 'outbox.0': { $exists: true } } as never)).toBe(0);
    const nextYear = await col.find({ fiscalYear: TO, programId: program.programId } as never).toArray();
    const markedIds = new Set((await col.find({ fiscalYear: FROM, programId: program.programId, rollover: { $exists: true } } as never).toArray()).map((e) => e._id));
    expect(nextYear.filter((e) => !markedIds.has(e.renewedFrom!))).toEqual([]);

    // The rerun does the rest, with nothing half done to resume.
    const rerun = await operator('/v1/operator/rollover', { fromFiscalYear: FROM });
    expect(rerun.body).toEqual(expect.objectContaining({ complete: true, conflicts: 0, resumed: 0, examined: N - marked }));
    expect(await touched()).toBe(N);
  });
});
