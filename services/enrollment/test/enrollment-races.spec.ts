/**
 * Races between a request (Enroll, Submit) or a handler and another handler, each forced into the interleaving
 * that loses a change, every time: a spy on a repository or view method of the in-process service makes the
 * competing change (an event on the real topic, handled by the real consumer, or the competing use case itself) at
 * the exact moment between the read and the write. The database and the broker are the run's real ones.
 */
import { createEnvelope, ProfileEvent, REPLAY_OF_HEADER, Topics } from '@lib/contracts';
import { eventually, groupCaughtUp } from '@lib/testing';
import { Type } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Enrollment } from '../src/enrollments/enrollment.schema';
import { EnrollmentsModule } from '../src/enrollments/enrollments.module';
import { EnrollmentsRepository } from '../src/enrollments/enrollments.repository';
import { PayoutFacts } from '../src/enrollments/payout-facts';
import { DiscontinueProgramEnrollments } from '../src/enrollments/usecases/discontinue-program-enrollments.use-case';
import { FollowSubmitted } from '../src/enrollments/usecases/follow-submitted.use-case';
import { FollowValidation } from '../src/enrollments/usecases/follow-validation.use-case';
import { MarkIneligible } from '../src/enrollments/usecases/mark-ineligible.use-case';
import { RecordEligibilityDecision } from '../src/enrollments/usecases/record-eligibility-decision.use-case';
import { RecordInvitation } from '../src/enrollments/usecases/record-invitation.use-case';
import { RecheckStart } from '../src/enrollments/usecases/recheck-start.use-case';
import { RecordProfileChange } from '../src/enrollments/usecases/record-profile-change.use-case';
import { ProgramsModule } from '../src/programs/programs.module';
import { ReadPrograms } from '../src/programs/usecases/read-programs.use-case';
import { ViewsModule } from '../src/views/views.module';
import { ViewsRepository } from '../src/views/views.repository';
import { watchFromNow } from './kafka-group';
import {
  approvedProfiles,
  bankProfile,
  call,
  createProgram,
  defaultBankProfile,
  eligibility,
  eligibilityKnown,
  enrollmentEvents,
  enrollmentEventsSettled,
  Harness,
  issueInvitation,
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

/** The instance the service's own code uses: looked up in the module that provides it (another module may hold a second one). */
const service = <T>(module: Type<unknown>, type: Type<T>): T => serviceOf(h, module, type);

/** The request, run while `race` is set up; the race undone after it, whatever the request did. */
async function whileRacing<T>(race: { restore(): void }, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } finally {
    race.restore();
  }
}

/**
 * The next proposal read (Enroll, Continue, Submit) answers as it found the views; then `profile`'s event `type` is
 * published and handled completely before the request goes on to its write. `then`: what to check at that moment (an
 * expect failing there fails the request, which the test sees). `raced()`: it happened.
 */
function profileEventAfterProposalRead(type: 'ProfileApproved' | 'ProfileActionRequired', profile: ProfileEvent, then: () => Promise<unknown> = async () => undefined) {
  const handled = track(service(EnrollmentsModule, RecordProfileChange), 'execute');
  return afterRead(service(EnrollmentsModule, PayoutFacts), 'proposal', handled, async () => {
    await profileEvent(h, type, profile);
    await handled.finished((event) => event.profileId === profile.profileId && event.status === profile.status);
    await then();
  });
}

/**
 * The next call of `target[method]` (a read) answers as it read; then `competing` runs to its end before the caller
 * goes on to its write. `tracked`: undone with the race. `raced()`: it happened.
 */
function afterRead<T extends object>(target: T, method: keyof T & string, tracked: { restore(): void }, competing: () => Promise<unknown>) {
  const original = (target[method] as unknown as (...args: unknown[]) => Promise<unknown>).bind(target);
  let raced = false;
  const spy = jest.spyOn(target as never, method as never).mockImplementationOnce((async (...args: unknown[]) => {
    raced = true;
    const read = await original(...args);
    await competing();
    return read;
  }) as never);
  return {
    raced: () => raced,
    restore: () => {
      spy.mockRestore();
      tracked.restore();
    },
  };
}


const enroll = async (programId: string, locationId: string) =>
  call(h, 'POST', '/v1/enrollments', { token: await w.token('admin'), body: { programId, locationId } });
const submit = async (enrollmentId: string) => call(h, 'POST', `/v1/enrollments/${enrollmentId}/submit`, { token: await w.token('admin') });
const stored = (enrollmentId: string) => h.db.collection<Enrollment>('enrollments').findOne({ _id: enrollmentId });
const eventTypes = (enrollmentId: string) => enrollmentEvents(h, enrollmentId).map((m) => m.envelope!.type);

/**
 * Lets every call of `method` through, and remembers it: `finished(match)` waits until a call whose arguments
 * match has been made, then until it has finished (a handler's use case: the handler is done).
 */
function track<T extends object>(instance: T, method: keyof T & string) {
  const original = (instance[method] as unknown as (...args: unknown[]) => Promise<unknown>).bind(instance);
  const calls: Array<{ args: unknown[]; done: Promise<unknown> }> = [];
  const spy = jest.spyOn(instance as never, method as never).mockImplementation(((...args: unknown[]) => {
    const done = original(...args);
    calls.push({ args, done });
    return done;
  }) as never);
  return {
    async finished(match: (...args: any[]) => boolean): Promise<void> {
      const found = await eventually(async () => {
        const call = calls.find((c) => match(...c.args));
        expect(call).toBeDefined();
        return call!;
      });
      await found.done;
    },
    restore: () => spy.mockRestore(),
  };
}

/** The tax profile's approval published and handled to its end by the service's consumer; `race` undone after it. */
async function taxApprovalHandled(tax: ProfileEvent, race: { mockRestore(): void }): Promise<void> {
  const handled = track(service(EnrollmentsModule, RecordProfileChange), 'execute');
  try {
    await profileEvent(h, 'ProfileApproved', { ...tax, status: 'APPROVED' });
    await handled.finished((event) => event.profileId === tax.profileId && event.status === 'APPROVED');
  } finally {
    handled.restore();
    race.mockRestore();
  }
}

/** A new program the location is eligible for, known to the service. */
async function eligibleProgram(locationId: string, overrides: Parameters<typeof createProgram>[1] = {}): Promise<Program> {
  const program = await createProgram(h, overrides);
  if (overrides.requiresEligibility === false) return program;
  await eligibility(h, w, program.programId, locationId, true);
  await eligibilityKnown(h, program.programId, locationId);
  return program;
}

/** The location's default bank profile approved, its tax profile pending validation, both known to the service. */
async function bankApprovedTaxPending(locationId: string) {
  const bank = bankProfile(w.partnerId, { status: 'APPROVED' });
  const tax = taxProfile(w.partnerId, locationId);
  await profileEvent(h, 'ProfileApproved', bank);
  await profileEvent(h, 'ProfileCreated', tax);
  await defaultBankProfile(h, w.partnerId, locationId, bank.profileId);
  await profileKnown(h, bank);
  await profileKnown(h, tax);
  await eventually(async () => {
    const view = await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').findOne({ _id: locationId });
    expect(view?.bankProfileId).toBe(bank.profileId);
  });
  return { bank, tax };
}

/** Enrolled and submitted while the tax profile waits for validation: VALIDATING. */
async function validating(program: Program, locationId: string) {
  const profiles = await bankApprovedTaxPending(locationId);
  const started = await enroll(program.programId, locationId);
  expect(started.body).toMatchObject({ status: 'INVITED' });
  const submitted = await submit(started.body.enrollmentId);
  expect(submitted.body).toMatchObject({ status: 'VALIDATING' });
  return { id: started.body.enrollmentId as string, version: submitted.body.version as number, ...profiles };
}

describe('an ended enrollment does not follow its profiles any more', () => {
  it('a validation result handled while an ineligible decision ends the enrollment leaves it INELIGIBLE (not ENROLLED again)', async () => {
    const program = await eligibleProgram(w.L1);
    const { id, version, tax } = await validating(program, w.L1);
    const decide = service(EnrollmentsModule, RecordEligibilityDecision);
    const repository = service(EnrollmentsModule, EnrollmentsRepository);
    const write = repository.update.bind(repository);
    let raced = false;
    let afterDecision: unknown;
    // The profile handler read the enrollment VALIDATING and is about to write ENROLLED: the ineligible decision is
    // handled right then (view, then MarkIneligible: INELIGIBLE), so the handler's guarded write misses and it
    // reads the enrollment again. What the decision left is asserted below (an expect here fails the handler only).
    const spy = jest.spyOn(repository, 'update').mockImplementation(async (current, changes, events, unset) => {
      if (!raced && current._id === id && changes.status === 'ENROLLED') {
        raced = true;
        const decision = { programId: program.programId, locationId: w.L1, partnerId: w.partnerId, fiscalYear: program.fiscalYear, eligible: false, reasons: ['Volume below the threshold.'] };
        await decide.execute(decision, new Date(), randomUUID());
        afterDecision = await stored(id);
      }
      return write(current, changes, events, unset);
    });
    await taxApprovalHandled(tax, spy);
    expect(raced).toBe(true);
    expect(afterDecision).toMatchObject({ status: 'INELIGIBLE', version: version + 1 });
    expect(await stored(id)).toMatchObject({ status: 'INELIGIBLE', version: version + 1, reasons: ['Volume below the threshold.'] });
    const [ineligible] = await waitForEnrollmentEvent(h, id, 'EnrollmentIneligible');
    expect(ineligible.envelope!.data).toMatchObject({ previousStatus: 'VALIDATING' });
    expect(eventTypes(id)).not.toContain('EnrollmentEnrolled');
  });

  it('FollowValidation leaves a DISCONTINUED enrollment (it keeps submittedAt) as it is, even with every profile approved', async () => {
    const program = await eligibleProgram(w.L3);
    const { id, tax } = await validating(program, w.L3);
    const discontinued = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { state: 'DISCONTINUED' }, headers: { 'if-match': `"${program.revision}"` } });
    expect(discontinued.status).toBe(200);
    const ended = await eventually(async () => {
      const now = await stored(id);
      expect(now).toMatchObject({ status: 'DISCONTINUED' });
      return now!;
    });
    expect(ended.submittedAt).toBeDefined();
    await profileEvent(h, 'ProfileApproved', { ...tax, status: 'APPROVED' });
    await profileKnown(h, { ...tax, status: 'APPROVED' });

    // A caller holding the enrollment as it read it (e.g. after a missed write) asks it to follow its profiles.
    const answer = await service(EnrollmentsModule, FollowValidation).apply(ended, RULES);
    expect(answer).toBe(ended);
    expect(await stored(id)).toMatchObject({ status: 'DISCONTINUED', version: ended.version });
  });
});

describe('two profile events of one enrollment handled at the same time (bank events keyed by partner, tax by location)', () => {
  it('a tax approval deciding on the bank profile as it read it, while the bank profile is edited: VALIDATING in the end, not ENROLLED on the old revision', async () => {
    const program = await eligibleProgram(w.L1);
    const { id, bank, tax } = await validating(program, w.L1);
    const facts = service(EnrollmentsModule, PayoutFacts);
    const follow = service(EnrollmentsModule, RecordProfileChange);
    const original = facts.inUse.bind(facts);
    const edited = { ...bank, revision: 2, status: 'PENDING_VALIDATION' as const };
    let raced = false;
    // The tax approval's handler reads the profiles in use (bank revision 1 approved); right then the bank profile's
    // edit is handled to its end (its view, then the enrollment: still VALIDATING as that handler sees it, nothing to
    // write). The approval's handler then writes what it decided from the bank revision it read.
    const spy = jest.spyOn(facts, 'inUse').mockImplementation(async (...args) => {
      const read = await original(...args);
      if (!raced && args[1] === bank.profileId && read.tax?.status === 'APPROVED') {
        raced = true;
        await follow.execute({ ...edited }, new Date());
        expect(await stored(id)).toMatchObject({ status: 'VALIDATING' });
      }
      return read;
    });
    await taxApprovalHandled(tax, spy);
    expect(raced).toBe(true);
    // Its bank profile's revision 2 waits for validation: the enrollment with it.
    expect(await stored(id)).toMatchObject({ status: 'VALIDATING' });
    await waitForEnrollmentEvent(h, id, 'EnrollmentEnrolled');
    await eventually(async () => expect(eventTypes(id).slice(-2)).toEqual(['EnrollmentEnrolled', 'EnrollmentValidating']));
  });
});

describe('Submit racing a validation result', () => {
  /**
   * The next Submit reads the profiles (tax pending); then the approval is recorded and handled completely before
   * Submit writes (the handler finds the enrollment not yet submitted: nothing to follow).
   */
  function approvalRacingSubmit(id: string, tax: ProfileEvent) {
    return profileEventAfterProposalRead('ProfileApproved', { ...tax, status: 'APPROVED' }, async () =>
      expect(await stored(id)).toMatchObject({ status: 'INVITED' }),
    );
  }

  it('a profile approved between the views Submit read and its write: Submit ends ENROLLED, not stuck VALIDATING', async () => {
    const program = await eligibleProgram(w.L1);
    const { tax } = await bankApprovedTaxPending(w.L1);
    const started = await enroll(program.programId, w.L1);
    expect(started.body).toMatchObject({ status: 'INVITED' });
    const id = started.body.enrollmentId;

    const race = approvalRacingSubmit(id, tax);
    const submitted = await whileRacing(race, () => submit(id));
    expect(race.raced()).toBe(true);
    expect(submitted.status).toBe(200);
    expect(submitted.body).toMatchObject({ status: 'ENROLLED' });
    expect(await stored(id)).toMatchObject({ status: 'ENROLLED', validated: { bank: 1, tax: 1 } });
    await waitForEnrollmentEvent(h, id, 'EnrollmentEnrolled');
    expect(eventTypes(id).filter((t) => t === 'EnrollmentValidating' || t === 'EnrollmentEnrolled')).toEqual(['EnrollmentValidating', 'EnrollmentEnrolled']);
  });

  it('the service ran the follow-up pass at its start (FollowUpScheduler), to its end', async () => {
    const text = await (await fetch(`${h.service.url}/metrics`)).text();
    expect(text).toMatch(/^background_job_runs_total\{[^}]*job_name="submit-follow-up",outcome="completed"[^}]*\} [1-9]/m);
  });

  // The same race, and the Submit dies between its write and its follow-up (a crash, the database gone a moment): the
  // approval was handled once, before the write, and no event brings it again. The follow-up pass (at start and on
  // its schedule) applies it.
  it('and the Submit dies before its follow-up: the follow-up pass makes it ENROLLED, with one event, and changes nothing on a second run', async () => {
    const program = await eligibleProgram(w.L3);
    const { tax } = await bankApprovedTaxPending(w.L3);
    const other = await eligibleProgram(w.L1);
    const waiting = await validating(other, w.L1); // VALIDATING, its tax profile still pending: the pass leaves it
    const started = await enroll(program.programId, w.L3);
    expect(started.body).toMatchObject({ status: 'INVITED' });
    const id = started.body.enrollmentId;

    const race = approvalRacingSubmit(id, tax);
    const dies = jest.spyOn(service(EnrollmentsModule, FollowValidation), 'apply').mockRejectedValueOnce(new Error('process killed'));
    let submitted;
    try {
      submitted = await submit(id);
    } finally {
      race.restore();
      dies.mockRestore();
    }
    expect(race.raced()).toBe(true);
    expect(submitted.status).toBe(500);
    expect(await stored(id)).toMatchObject({ status: 'VALIDATING' });

    const pass = service(EnrollmentsModule, FollowSubmitted);
    const first = await pass.execute();
    expect(first).toMatchObject({ changed: 1, complete: true });
    expect(first.examined).toBeGreaterThanOrEqual(2);
    expect(await stored(id)).toMatchObject({ status: 'ENROLLED', validated: { bank: 1, tax: 1 } });
    expect(await stored(waiting.id)).toMatchObject({ status: 'VALIDATING', version: waiting.version });
    await waitForEnrollmentEvent(h, id, 'EnrollmentEnrolled');

    expect(await pass.execute()).toMatchObject({ changed: 0, complete: true });
    await enrollmentEventsSettled(h, { programId: program.programId }, [w.L3]);
    expect(eventTypes(id).filter((t) => t === 'EnrollmentValidating' || t === 'EnrollmentEnrolled')).toEqual(['EnrollmentValidating', 'EnrollmentEnrolled']);
  });
});

describe('an ineligible decision after ENROLLED', () => {
  it('leaves an enrollment sent back to VALIDATING by a profile edit in its year (not INELIGIBLE), also when an invitation comes again', async () => {
    const program = await eligibleProgram(w.L1);
    const { bank } = await approvedProfiles(h, w.partnerId, w.L1);
    const started = await enroll(program.programId, w.L1);
    const id = started.body.enrollmentId;
    expect((await submit(id)).body).toMatchObject({ status: 'ENROLLED' });

    // The bank profile is edited: a new revision pending validation, VALIDATING again (enrolledAt kept).
    await profileEvent(h, 'ProfileUpdated', { ...bank, revision: 2, status: 'PENDING_VALIDATION' });
    const edited = await eventually(async () => {
      const now = await stored(id);
      expect(now).toMatchObject({ status: 'VALIDATING' });
      return now!;
    });
    expect(edited.enrolledAt).toBeDefined();

    const decided = track(service(EnrollmentsModule, RecordEligibilityDecision), 'execute');
    const invited = track(service(EnrollmentsModule, RecordInvitation), 'execute');
    try {
      await eligibility(h, w, program.programId, w.L1, false, program.fiscalYear, ['Volume below the threshold.']);
      await decided.finished((decision) => decision.programId === program.programId && decision.eligible === false);
      expect(await stored(id)).toMatchObject({ status: 'VALIDATING', version: edited.version });

      // An invitation consumed after the decision reads it and ends the enrollment as the decision would: not here.
      await issueInvitation(h, w, program, w.L1, `inv-${program.programId}`);
      await invited.finished((invitation) => invitation.programId === program.programId);
    } finally {
      decided.restore();
      invited.restore();
    }
    expect(await stored(id)).toMatchObject({ status: 'VALIDATING', version: edited.version });

    // The new revision approved: ENROLLED again, for its year.
    await profileEvent(h, 'ProfileApproved', { ...bank, revision: 2, status: 'APPROVED' });
    await eventually(async () => expect(await stored(id)).toMatchObject({ status: 'ENROLLED', validated: { bank: 2 } }));
    await waitForEnrollmentEvent(h, id, 'EnrollmentEnrolled', 2);
    expect(eventTypes(id)).not.toContain('EnrollmentIneligible');
  });
});

describe('an enrollment ENROLLED once, its bank profile rejected, another one chosen', () => {
  it('keeps its year: an ineligible decision leaves it as it is (it keeps enrolledAt)', async () => {
    const program = await eligibleProgram(w.L1);
    const { bank } = await approvedProfiles(h, w.partnerId, w.L1);
    const id = (await enroll(program.programId, w.L1)).body.enrollmentId as string;
    expect((await submit(id)).body).toMatchObject({ status: 'ENROLLED' });

    await profileEvent(h, 'ProfileUpdated', { ...bank, revision: 2, status: 'PENDING_VALIDATION' });
    await profileEvent(h, 'ProfileActionRequired', { ...bank, revision: 2, status: 'ACTION_REQUIRED', reasons: ['The account is closed.'] });
    await eventually(async () => expect(await stored(id)).toMatchObject({ status: 'ACTION_REQUIRED' }));

    // The admin picks another bank profile of the partner: back to the proposal, to be submitted again.
    const other = bankProfile(w.partnerId, { status: 'PENDING_VALIDATION' });
    await profileEvent(h, 'ProfileCreated', other);
    await profileKnown(h, other);
    const chosen = await call(h, 'POST', '/v1/enrollments', { token: await w.token('admin'), body: { programId: program.programId, locationId: w.L1, bankProfileId: other.profileId } });
    expect(chosen.status).toBe(200);
    const before = (await stored(id))!;
    expect(before).toMatchObject({ bankProfileId: other.profileId });
    expect(before.submittedAt).toBeUndefined();
    expect(before.enrolledAt).toBeDefined();

    const decided = track(service(EnrollmentsModule, RecordEligibilityDecision), 'execute');
    try {
      await eligibility(h, w, program.programId, w.L1, false, program.fiscalYear, ['Volume below the threshold.']);
      await decided.finished((decision) => decision.programId === program.programId && decision.eligible === false);
    } finally {
      decided.restore();
    }
    expect(await stored(id)).toMatchObject({ status: before.status, version: before.version });
    expect(eventTypes(id)).not.toContain('EnrollmentIneligible');
  });
});

describe('an invitation consumed after its program was discontinued and swept', () => {
  it('ends DISCONTINUED with its event, not left INVITED', async () => {
    const program = await createProgram(h, {});
    const swept = track(service(EnrollmentsModule, DiscontinueProgramEnrollments), 'execute');
    const invited = track(service(EnrollmentsModule, RecordInvitation), 'execute');
    try {
      const patched = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { state: 'DISCONTINUED' }, headers: { 'if-match': `"${program.revision}"` } });
      expect(patched.status).toBe(200);
      await swept.finished((programId) => programId === program.programId);
      await issueInvitation(h, w, program, w.L1, `inv-${program.programId}`);
      await invited.finished((invitation) => invitation.programId === program.programId);
    } finally {
      swept.restore();
      invited.restore();
    }
    const [row] = await h.db.collection<Enrollment>('enrollments').find({ programId: program.programId }).toArray();
    expect(row).toMatchObject({ status: 'DISCONTINUED', reasons: [`The program ${program.name} was discontinued.`] });
    const [event] = await waitForEnrollmentEvent(h, row._id, 'EnrollmentDiscontinued');
    expect(event.envelope!.data.previousStatus).toBe('INVITED');
  });
});

/**
 * The next Submit reads its proposal; meanwhile the ineligible decision is consumed: its view written, its handler's
 * MarkIneligible held until `release()`, so that it reads the enrollment only once Submit has written.
 */
function decisionHeldAcrossSubmit(program: Program, locationId: string) {
  const mark = service(EnrollmentsModule, MarkIneligible);
  const original = mark.execute.bind(mark);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held = jest.spyOn(mark, 'execute').mockImplementationOnce(async (...args) => {
    await gate;
    return original(...args);
  });
  const facts = service(EnrollmentsModule, PayoutFacts);
  const read = facts.proposal.bind(facts);
  const raced = jest.spyOn(facts, 'proposal').mockImplementationOnce(async (...args) => {
    const proposal = await read(...args);
    await eligibility(h, w, program.programId, locationId, false, program.fiscalYear, ['Volume below the threshold.']);
    await eligibilityKnown(h, program.programId, locationId, program.fiscalYear, false);
    return proposal;
  });
  return {
    held,
    release,
    restore: () => {
      raced.mockRestore();
      release();
      held.mockRestore();
    },
  };
}

/** Submit answered 422 and ended the enrollment INELIGIBLE after its write (from `previousStatus`), no longer completed. */
async function expectEndedBySubmit(id: string, submitted: { status: number; body: { type?: string } }, previousStatus: string): Promise<void> {
  expect(submitted.status).toBe(422);
  expect(submitted.body.type).toMatch(/location-not-eligible$/);
  const ended = await stored(id);
  expect(ended).toMatchObject({ status: 'INELIGIBLE', reasons: ['Volume below the threshold.'] });
  for (const field of ['enrolledAt', 'submittedAt', 'validated']) expect(ended).not.toHaveProperty(field);
  const [event] = await waitForEnrollmentEvent(h, id, 'EnrollmentIneligible');
  expect(event.envelope!.data).toMatchObject({ previousStatus, completed: false, decision: { eventId: expect.any(String) } });
}

describe('Submit racing an ineligible decision', () => {
  // The decision's handler writes the view and reads the enrollment (INVITED); Submit, having read the view before,
  // writes ENROLLED (both profiles approved) first; the handler's guarded write loses, and reading it again ENROLLED
  // it left it (ENROLLED keeps its year): a location completed on eligibility that was gone before the write.
  it("the decision handled across Submit's write: the enrollment ends INELIGIBLE, no longer completed; the answer is 422", async () => {
    const program = await eligibleProgram(w.L1);
    await approvedProfiles(h, w.partnerId, w.L1);
    const started = await enroll(program.programId, w.L1);
    expect(started.body).toMatchObject({ status: 'INVITED' });
    const id = started.body.enrollmentId as string;
    const race = decisionHeldAcrossSubmit(program, w.L1);
    const submitted = await whileRacing(race, () => submit(id));
    await expectEndedBySubmit(id, submitted, 'ENROLLED');
  });
});

describe('Submit racing an ineligible decision, then a profile edit', () => {
  // As above, the handler left the enrollment ENROLLED by Submit; then, before Submit's own check after its write, a
  // profile it uses is edited (VALIDATING again, still completed by this Submit): the check gave up on a version it
  // no longer found, and the location stayed completed in a year it was decided ineligible for before Submit's write.
  it('ends INELIGIBLE all the same, no longer completed; the answer is 422', async () => {
    const program = await eligibleProgram(w.L1);
    const { bank } = await approvedProfiles(h, w.partnerId, w.L1);
    const started = await enroll(program.programId, w.L1);
    expect(started.body).toMatchObject({ status: 'INVITED' });
    const id = started.body.enrollmentId as string;
    const race = decisionHeldAcrossSubmit(program, w.L1);
    // Submit has written ENROLLED: the held handler finds it completed and leaves it; then the bank profile is edited.
    const recheck = service(EnrollmentsModule, RecheckStart);
    const check = recheck.afterSubmit.bind(recheck);
    let editedFirst: unknown;
    const after = jest.spyOn(recheck, 'afterSubmit').mockImplementationOnce(async (written, read) => {
      race.release();
      await eventually(async () => expect(race.held).toHaveBeenCalled());
      await (race.held.mock.results[0]?.value as Promise<unknown>);
      await profileEvent(h, 'ProfileUpdated', { ...bank, revision: bank.revision + 1, status: 'PENDING_VALIDATION' });
      await eventually(async () => expect(await stored(id)).toMatchObject({ status: 'VALIDATING', enrolledAt: expect.any(Date) }));
      editedFirst = await stored(id);
      return check(written, read);
    });
    let submitted;
    try {
      submitted = await submit(id);
    } finally {
      race.restore();
      after.mockRestore();
    }
    expect(editedFirst).toMatchObject({ status: 'VALIDATING' });
    await expectEndedBySubmit(id, submitted, 'VALIDATING');
  });
});

// A profile's event writes the view, then reads the enrollments proposing the profile; Enroll and Continue read the
// views, then write. An event handled in between found no enrollment proposing the profile and left it.
describe('Enroll or Continue racing a profile sent back for action', () => {
  /** The next proposal read answers as it found the views; then the profile's rejection is handled completely. */
  function rejectionAfterProposalRead(profile: ProfileEvent) {
    const reasons = ['The TIN does not match the legal name'];
    return profileEventAfterProposalRead('ProfileActionRequired', { ...profile, revision: profile.revision + 1, status: 'ACTION_REQUIRED', reasons });
  }

  it('the tax profile rejected between the views Enroll read and its insert: ACTION_REQUIRED with what is missing, and its event', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const { tax } = await approvedProfiles(h, w.partnerId, w.L3);
    const race = rejectionAfterProposalRead(tax);
    const answer = await whileRacing(race, () => enroll(program.programId, w.L3));
    expect(race.raced()).toBe(true);
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ status: 'ACTION_REQUIRED', nextAction: 'CONTINUE', missing: ['TAX_PROFILE_NOT_APPROVED'] });
    const id = answer.body.enrollmentId;
    expect(await stored(id)).toMatchObject({ status: 'ACTION_REQUIRED', missing: ['TAX_PROFILE_NOT_APPROVED'], taxProfileId: tax.profileId });
    await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');
    expect(eventTypes(id)).toEqual(['EnrollmentStarted', 'EnrollmentActionRequired']);
  });

  it('the bank profile a Continue chooses rejected between the views it read and its write: ACTION_REQUIRED, not SUBMIT', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    await approvedProfiles(h, w.partnerId, w.L3);
    const started = await enroll(program.programId, w.L3);
    expect(started.body).toMatchObject({ status: 'INVITED', nextAction: 'SUBMIT' });
    const id = started.body.enrollmentId;
    const other = bankProfile(w.partnerId, { status: 'APPROVED', locationIds: [w.L3] });
    await profileEvent(h, 'ProfileApproved', other);
    await profileKnown(h, other);

    const race = rejectionAfterProposalRead(other);
    const answer = await whileRacing(race, async () => call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token: await w.token('admin'), body: { bankProfileId: other.profileId } }));
    expect(race.raced()).toBe(true);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: 'ACTION_REQUIRED', nextAction: 'CONTINUE', missing: ['BANK_PROFILE_NOT_APPROVED'] });
    expect(await stored(id)).toMatchObject({ status: 'ACTION_REQUIRED', bankProfileId: other.profileId, bankChosen: true });
    await waitForEnrollmentEvent(h, id, 'EnrollmentActionRequired');
  });
});

describe('Enroll racing a decision or a discontinuation', () => {
  /**
   * Enroll's next read of the eligibility view answers "eligible", and then the ineligible decision is consumed and
   * handled completely (view written; no enrollment to end yet) before Enroll inserts. `raced()`: it happened.
   */
  const ineligibleAfterEnrollRead = (program: { programId: string; fiscalYear: string }, locationId: string) => {
    const decided = track(service(EnrollmentsModule, RecordEligibilityDecision), 'execute');
    return afterRead(service(ViewsModule, ViewsRepository), 'partnersEligibility', decided, async () => {
      await eligibility(h, w, program.programId, locationId, false, program.fiscalYear, ['Volume below the threshold.']);
      await decided.finished((decision) => decision.programId === program.programId && decision.eligible === false);
    });
  };

  it('an ineligible decision handled between the eligibility Enroll read and its insert: the enrollment ends INELIGIBLE, the answer is 422', async () => {
    const program = await eligibleProgram(w.L3);
    // Approved profiles: the Enroll that loses the race inserts INVITED (whatever the tests before left at L3).
    await approvedProfiles(h, w.partnerId, w.L3);
    const race = ineligibleAfterEnrollRead(program, w.L3);
    const answer = await whileRacing(race, () => enroll(program.programId, w.L3));
    expect(race.raced()).toBe(true);
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ reasons: ['Volume below the threshold.'] });
    expect(answer.body.type).toMatch(/location-not-eligible$/);
    const [row] = await h.db.collection<Enrollment>('enrollments').find({ programId: program.programId }).toArray();
    expect(row).toMatchObject({ status: 'INELIGIBLE', reasons: ['Volume below the threshold.'] });
    const [ineligible] = await waitForEnrollmentEvent(h, row._id, 'EnrollmentIneligible');
    expect(ineligible.envelope!.data).toMatchObject({ status: 'INELIGIBLE', previousStatus: 'INVITED', revision: 2 });
    // Enrolling again: refused as the decision says, nothing changes.
    const again = await enroll(program.programId, w.L3);
    expect(again.status).toBe(422);
    expect(await stored(row._id)).toMatchObject({ status: 'INELIGIBLE', version: row.version });
  });

  it('an enrollment that keeps changing while Enroll ends it for an ineligible decision: 409 busy (try again), and Enroll again ends it', async () => {
    const program = await eligibleProgram(w.L3);
    await approvedProfiles(h, w.partnerId, w.L3);
    // As in the race above, an ineligible decision is handled between Enroll's read and its insert; then every write
    // ending the enrollment INELIGIBLE finds it changed meanwhile (each of its attempts).
    const race = ineligibleAfterEnrollRead(program, w.L3);
    const updates = jest.spyOn(service(EnrollmentsModule, EnrollmentsRepository), 'update').mockImplementation(async () => null);
    let answer;
    try {
      answer = await enroll(program.programId, w.L3);
    } finally {
      updates.mockRestore();
      race.restore();
    }
    expect(race.raced()).toBe(true);
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ type: expect.stringMatching(/\/busy$/), detail: expect.stringContaining('try again') });
    const [row] = await h.db.collection<Enrollment>('enrollments').find({ programId: program.programId }).toArray();
    expect(row.status).not.toBe('INELIGIBLE');
    // The same request again: the decision ends the enrollment, as it would have.
    expect((await enroll(program.programId, w.L3)).status).toBe(422);
    expect(await stored(row._id)).toMatchObject({ status: 'INELIGIBLE', reasons: ['Volume below the threshold.'] });
  });

  it('a discontinuation swept between the program Enroll read and its insert: the enrollment ends DISCONTINUED, the answer is 409', async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    // Approved profiles: the Enroll that loses the race inserts INVITED (whatever the tests before left at L1).
    await approvedProfiles(h, w.partnerId, w.L1);
    const programs = service(ProgramsModule, ReadPrograms);
    const find = programs.find.bind(programs);
    const swept = track(service(EnrollmentsModule, DiscontinueProgramEnrollments), 'execute');
    // Enroll has read the program OPEN; the operator discontinues it and this service's sweep (on its own
    // ProgramUpdated) runs completely, finding nothing to end, before Enroll inserts.
    let raced = false;
    const spy = jest.spyOn(programs, 'find').mockImplementationOnce(async (...args) => {
      raced = true;
      const open = await find(...args);
      const patched = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { state: 'DISCONTINUED' }, headers: { 'if-match': `"${program.revision}"` } });
      expect(patched.status).toBe(200);
      await swept.finished((programId) => programId === program.programId);
      return open;
    });
    let answer;
    try {
      answer = await enroll(program.programId, w.L1);
    } finally {
      spy.mockRestore();
      swept.restore();
    }
    expect(raced).toBe(true);
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ programState: 'DISCONTINUED' });
    const [row] = await h.db.collection<Enrollment>('enrollments').find({ programId: program.programId }).toArray();
    expect(row).toMatchObject({ status: 'DISCONTINUED', reasons: [`The program ${program.name} was discontinued.`] });
    const [event] = await waitForEnrollmentEvent(h, row._id, 'EnrollmentDiscontinued');
    expect(event.envelope!.data).toMatchObject({ status: 'DISCONTINUED', previousStatus: 'INVITED', revision: 2 });
  });
  // The Enroll that lost the race dies between its insert and its recheck (a crash, the database gone for a moment):
  // the sweep and the decision's handler have run, once, and found nothing to end. What the admin does next ends it.
  describe('when that Enroll dies before its recheck', () => {
    const dyingRecheck = () => jest.spyOn(service(EnrollmentsModule, RecheckStart), 'execute').mockRejectedValueOnce(new Error('process killed'));

    it('a discontinuation: Submit answers 409 and ends the enrollment DISCONTINUED with its event, as the sweep would have', async () => {
      const program = await createProgram(h, { requiresEligibility: false });
      await approvedProfiles(h, w.partnerId, w.L1);
      const programs = service(ProgramsModule, ReadPrograms);
      const find = programs.find.bind(programs);
      const swept = track(service(EnrollmentsModule, DiscontinueProgramEnrollments), 'execute');
      const spy = jest.spyOn(programs, 'find').mockImplementationOnce(async (...args) => {
        const open = await find(...args);
        const patched = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { state: 'DISCONTINUED' }, headers: { 'if-match': `"${program.revision}"` } });
        expect(patched.status).toBe(200);
        await swept.finished((programId) => programId === program.programId);
        return open;
      });
      const dies = dyingRecheck();
      let answer;
      try {
        answer = await enroll(program.programId, w.L1);
      } finally {
        spy.mockRestore();
        dies.mockRestore();
        swept.restore();
      }
      expect(answer.status).toBe(500);
      const [left] = await h.db.collection<Enrollment>('enrollments').find({ programId: program.programId }).toArray();
      expect(left).toMatchObject({ status: 'INVITED' });

      const submitted = await submit(left._id);
      expect(submitted.status).toBe(409);
      expect(submitted.body).toMatchObject({ programState: 'DISCONTINUED' });
      expect(await stored(left._id)).toMatchObject({ status: 'DISCONTINUED', reasons: [`The program ${program.name} was discontinued.`] });
      const [event] = await waitForEnrollmentEvent(h, left._id, 'EnrollmentDiscontinued');
      expect(event.envelope!.data).toMatchObject({ status: 'DISCONTINUED', previousStatus: 'INVITED' });
      expect((await enroll(program.programId, w.L1)).status).toBe(409);
    });

    it('an ineligible decision: Enroll again answers 422 and ends the enrollment INELIGIBLE with its event, as the decision would have', async () => {
      const program = await eligibleProgram(w.L3);
      await approvedProfiles(h, w.partnerId, w.L3);
      const views = service(ViewsModule, ViewsRepository);
      const read = views.partnersEligibility.bind(views);
      const decided = track(service(EnrollmentsModule, RecordEligibilityDecision), 'execute');
      const spy = jest.spyOn(views, 'partnersEligibility').mockImplementationOnce(async (...args) => {
        const view = await read(...args);
        await eligibility(h, w, program.programId, w.L3, false, program.fiscalYear, ['Volume below the threshold.']);
        await decided.finished((decision) => decision.programId === program.programId && decision.eligible === false);
        return view;
      });
      const dies = dyingRecheck();
      let answer;
      try {
        answer = await enroll(program.programId, w.L3);
      } finally {
        spy.mockRestore();
        dies.mockRestore();
        decided.restore();
      }
      expect(answer.status).toBe(500);
      const [left] = await h.db.collection<Enrollment>('enrollments').find({ programId: program.programId }).toArray();
      expect(left).toMatchObject({ status: 'INVITED' });

      const again = await enroll(program.programId, w.L3);
      expect(again.status).toBe(422);
      expect(again.body).toMatchObject({ reasons: ['Volume below the threshold.'] });
      expect(await stored(left._id)).toMatchObject({ status: 'INELIGIBLE', reasons: ['Volume below the threshold.'] });
      const [event] = await waitForEnrollmentEvent(h, left._id, 'EnrollmentIneligible');
      expect(event.envelope!.data).toMatchObject({ status: 'INELIGIBLE', previousStatus: 'INVITED' });
      expect((await submit(left._id)).status).toBe(409); // ended: Submit refuses it as any ended enrollment
    });
  });
});

describe('the agreement view and changes of the same instant', () => {
  // An outside system stamping to the second: "inactive" then "active" at the same occurredAt. A consumer that lost
  // its partitions during a rebalance may still write the earlier one after the later one was recorded.
  it('keeps the one read later on the topic, also when the earlier one is written again after it', async () => {
    const views = service(ViewsModule, ViewsRepository);
    const partnerId = `agreement-${randomUUID()}`;
    const at = new Date('2027-03-01T10:00:00Z');
    const stored = async () => (await h.db.collection<{ _id: string; active: boolean }>('agreement_view').findOne({ _id: partnerId }))?.active;

    expect(await views.recordAgreement({ partnerId, active: false }, at, { partition: 2, offset: '5' })).toBe(true);
    expect(await views.recordAgreement({ partnerId, active: true }, at, { partition: 2, offset: '6' })).toBe(true);
    expect(await stored()).toBe(true);
    // The earlier change again (a redelivery): kept out.
    expect(await views.recordAgreement({ partnerId, active: false }, at, { partition: 2, offset: '5' })).toBe(false);
    expect(await stored()).toBe(true);
    // A later instant wins whatever its position.
    expect(await views.recordAgreement({ partnerId, active: false }, new Date(+at + 1000), { partition: 2, offset: '7' })).toBe(true);
    expect(await stored()).toBe(false);
    expect(await views.recordAgreement({ partnerId, active: true }, at, { partition: 2, offset: '8' })).toBe(false);
    expect(await stored()).toBe(false);
  });

  // `npm run dlq -- replay` publishes a dead-lettered change again: at a later offset, saying where the original was.
  it('places a change an operator published again where its original stood: it does not overtake a later change of the same instant', async () => {
    const partnerId = `agreement-${randomUUID()}`;
    // In the past (an outside system's event dated ahead of the broker's clock is refused), to the second.
    const at = new Date(Math.floor((Date.now() - 600_000) / 1000) * 1000);
    const stored = async () => (await h.db.collection<{ _id: string; active: boolean }>('agreement_view').findOne({ _id: partnerId }))?.active;
    const { watch, close } = await watchFromNow([Topics.agreements]);
    try {
      const change = (active: boolean, occurredAt = at) => createEnvelope({ type: 'AgreementStatusChanged', source: 'agreements-system', partnerId, data: { partnerId, active }, occurredAt });
      // Where the failed original stood (here an earlier change of the partner: only its place matters), then a later
      // change of the same instant, applied.
      const before = change(false, new Date(+at - 3_600_000));
      await h.kafka.publish(Topics.agreements, partnerId, before);
      const [original] = await watch.waitFor((m) => m.envelope?.eventId === before.eventId);
      await h.kafka.publish(Topics.agreements, partnerId, change(true));
      await eventually(async () => expect(await stored()).toBe(true));
      // The original (inactive at the same instant), dead-lettered then, published again as the tool does.
      const inactive = change(false);
      await h.kafka.publish(Topics.agreements, partnerId, inactive, { [REPLAY_OF_HEADER]: `${original.partition}:${original.offset}` });
      await watch.waitFor((m) => m.envelope?.eventId === inactive.eventId);
      await groupCaughtUp(h.service.env.KAFKA_GROUP_ID, [Topics.agreements]);
      expect(await stored()).toBe(true);
    } finally {
      await close();
    }
  });
});
