/**
 * Invitations (invitations.events.v1) and eligibility decisions (eligibility.decisions.v1) arrive on different
 * topics, so this service sees them in any order. Whatever the order, an enrollment of a location that lost its
 * eligibility before enrolling ends INELIGIBLE, once, with one event; a revocation older than what the service
 * knows since (eligible again, enrolled again) changes nothing.
 */
import { createEnvelope, DeadLetterHeaders, deadLetterTopic, Envelope, Topics } from '@lib/contracts';
import { eventually, groupCaughtUp } from '@lib/testing';
import { randomUUID } from 'node:crypto';
import {
  approvedProfiles,
  bankProfile,
  call,
  CURRENT_FY,
  createProgram,
  eligibility,
  eligibilityKnown,
  enrollmentEvents,
  enrollmentEventsSettled,
  Harness,
  issueInvitation,
  profileEvent,
  profileKnown,
  withHarness,
  World,
} from './support';
import { watchFromNow } from './kafka-group';

jest.setTimeout(120_000);

let h: Harness;
let w: World;
withHarness((harness, world) => ((h = harness), (w = world)));

type Program = Awaited<ReturnType<typeof createProgram>>;

const invitationData = (program: Program, locationId: string) => ({
  invitationId: `inv-${program.programId}-${locationId}`,
  programId: program.programId,
  programName: program.name,
  partnerId: w.partnerId,
  locationId,
  fiscalYear: program.fiscalYear,
});

/** InvitationIssued as the invitations service publishes it. */
const issue = (program: Program, locationId: string) => issueInvitation(h, w, program, locationId, invitationData(program, locationId).invitationId);

/** An InvitationRevoked envelope (built now: its occurredAt is now), to publish with `publish`. */
const revocation = (program: Program, locationId: string, reasons: string[]) =>
  createEnvelope({ type: 'InvitationRevoked', source: 'invitations', partnerId: w.partnerId, data: { ...invitationData(program, locationId), reasons } });

const publish = (envelope: Envelope<{ locationId: string }>) => h.kafka.publish(Topics.invitations, envelope.data.locationId, envelope);

const list = async (programId: string) =>
  (await call(h, 'GET', `/v1/enrollments?programId=${programId}`, { token: await w.token('admin') })).body.items as Array<Record<string, any>>;

/** The only enrollment of the program, once it has this status. */
const enrollmentWith = (programId: string, status: string) =>
  eventually(async () => {
    const items = await list(programId);
    expect(items.map((e) => e.status)).toEqual([status]);
    return items[0];
  });

const eventsOf = (enrollmentId: string) => enrollmentEvents(h, enrollmentId).map((m) => m.envelope! as { type: string; data: Record<string, any> });

/** Waits until the eligibility view holds that decision (not only an earlier one with the same answer). */
const decisionKnown = (program: Program, locationId: string, eventId: string) =>
  eventually(async () => {
    const view = await h.db.collection<{ _id: string; years: Record<string, { eventId: string }> }>('eligibility_view').findOne({ _id: `${program.programId}|${locationId}` });
    expect(view?.years?.[program.fiscalYear]?.eventId).toBe(eventId);
  });

/** A new program for which `locationId` is eligible and invited: its INVITED enrollment. */
async function invitedAt(locationId: string) {
  const program = await createProgram(h);
  await eligibility(h, w, program.programId, locationId, true);
  await eligibilityKnown(h, program.programId, locationId);
  await issue(program, locationId);
  return { program, invited: await enrollmentWith(program.programId, 'INVITED') };
}

/**
 * For "nothing changes" and "nothing was published" checks about `locationId`: the consumer group has committed up to
 * the end of the topics these tests write (it commits only after a handler's write, outbox entries included, is
 * durable), and every event that handling published is on the watch (enrollmentEventsSettled).
 */
async function settle(locationId: string): Promise<void> {
  await groupCaughtUp(h.service.env.KAFKA_GROUP_ID, [Topics.invitations, Topics.eligibility]);
  await enrollmentEventsSettled(h, { locationId }, [locationId]);
}

describe('invitations and eligibility decisions, in either order', () => {
  it('an ineligible decision consumed before the invitation: the enrollment ends INELIGIBLE, with one event, not INVITED', async () => {
    const program = await createProgram(h);
    // Eligible (the invitations service issues), then not eligible (it revokes): this service consumed both
    // decisions before the invitation.
    await eligibility(h, w, program.programId, w.L1, true);
    await eligibility(h, w, program.programId, w.L1, false, program.fiscalYear, ['Revenue threshold not met']);
    await eligibilityKnown(h, program.programId, w.L1, program.fiscalYear, false);
    await issue(program, w.L1);

    const ended = await enrollmentWith(program.programId, 'INELIGIBLE');
    expect(ended).toEqual(expect.objectContaining({ locationId: w.L1, reasons: ['Revenue threshold not met'], nextAction: null }));
    // The same as when the invitation comes first: recorded as invited, then ended by the decision.
    await eventually(async () => expect(eventsOf(ended.enrollmentId).map((e) => e.type)).toEqual(['EnrollmentIneligible']));
    expect(eventsOf(ended.enrollmentId)[0].data).toEqual(
      expect.objectContaining({ status: 'INELIGIBLE', previousStatus: 'INVITED', reasons: ['Revenue threshold not met'], revision: ended.version, started: false }),
    );

    // The invitation again (a redelivery, or InvitationDelivered to a late admin), and the revocation that
    // followed the decision: nothing changes.
    await issue(program, w.L1);
    await publish(revocation(program, w.L1, ['Revenue threshold not met']));
    await settle(w.L1);
    expect(await list(program.programId)).toEqual([expect.objectContaining({ status: 'INELIGIBLE', version: ended.version })]);
    expect(eventsOf(ended.enrollmentId)).toHaveLength(1);
    // Enroll is refused while the location is not eligible.
    const refused = await call(h, 'POST', '/v1/enrollments', { token: await w.token('admin'), body: { programId: program.programId, locationId: w.L1 } });
    expect(refused.status).toBe(422);
  });

  it('a revocation naming its decision, with a field a later producer added to the reference: INELIGIBLE, its event naming that decision by the fields of the contract', async () => {
    const { program, invited } = await invitedAt(w.L3);
    const decision = { eventId: randomUUID(), decidedAt: new Date().toISOString(), position: { partition: 0, offset: '7' } };
    const revoked = createEnvelope({
      type: 'InvitationRevoked',
      source: 'invitations',
      partnerId: w.partnerId,
      data: { ...invitationData(program, w.L3), reasons: ['Partner designation lost'], decision: { ...decision, reviewedBy: 'eligibility-desk', position: { ...decision.position, epoch: 3 } } },
    });
    await publish(revoked);
    const ended = await enrollmentWith(program.programId, 'INELIGIBLE');
    expect(ended.enrollmentId).toBe(invited.enrollmentId);
    await eventually(async () => expect(eventsOf(ended.enrollmentId).map((e) => e.type)).toEqual(['EnrollmentIneligible']));
    expect(eventsOf(ended.enrollmentId)[0].data.decision).toEqual(decision);
  });

  it('InvitationIssued, then InvitationRevoked: INVITED -> INELIGIBLE with one event; the revocation again changes nothing', async () => {
    const { program, invited } = await invitedAt(w.L3);

    // The ineligible decision behind the revocation is not consumed yet (its topic lags): the revocation alone ends it.
    const revoked = revocation(program, w.L3, ['Partner designation lost']);
    await publish(revoked);
    const ended = await enrollmentWith(program.programId, 'INELIGIBLE');
    expect(ended).toEqual(expect.objectContaining({ enrollmentId: invited.enrollmentId, reasons: ['Partner designation lost'], version: invited.version + 1 }));
    await eventually(async () => expect(eventsOf(ended.enrollmentId).map((e) => e.type)).toEqual(['EnrollmentIneligible']));
    expect(eventsOf(ended.enrollmentId)[0].data).toEqual(
      expect.objectContaining({ status: 'INELIGIBLE', previousStatus: 'INVITED', reasons: ['Partner designation lost'], revision: ended.version }),
    );

    // Redelivered (same event id), replayed with another id, and the decision itself arriving late: nothing changes.
    await publish(revoked);
    await publish({ ...revoked, eventId: randomUUID() });
    await eligibility(h, w, program.programId, w.L3, false, program.fiscalYear, ['Partner designation lost']);
    await eligibilityKnown(h, program.programId, w.L3, program.fiscalYear, false);
    await settle(w.L3);
    expect(await list(program.programId)).toEqual([expect.objectContaining({ status: 'INELIGIBLE', version: ended.version, reasons: ['Partner designation lost'] })]);
    expect(eventsOf(ended.enrollmentId)).toHaveLength(1);
  });

  // The invitations service revokes on the ineligible decision before it learns that the program no longer requires
  // eligibility (another topic): the decision itself decides nothing for an open program, nor does its revocation.
  it('a revocation for a program made open meanwhile leaves the enrollment INVITED, with no event', async () => {
    const { program, invited } = await invitedAt(w.L1);
    const opened = await call(h, 'PATCH', `/v1/programs/${program.programId}`, { operator: true, body: { requiresEligibility: false }, headers: { 'if-match': `"${program.revision}"` } });
    expect(opened.status).toBe(200);
    await eventually(async () => expect(await h.db.collection('programs').findOne({ _id: program.programId as never })).toEqual(expect.objectContaining({ requiresEligibility: false })));
    await eligibility(h, w, program.programId, w.L1, false, program.fiscalYear, ['Partner designation lost']);
    await publish(revocation(program, w.L1, ['Partner designation lost']));
    await settle(w.L1);
    expect(await list(program.programId)).toEqual([expect.objectContaining({ enrollmentId: invited.enrollmentId, status: 'INVITED', version: invited.version })]);
    expect(eventsOf(invited.enrollmentId)).toEqual([]);
  });

  it('a revocation older than what the service knows since (eligible again, enrolled again) changes nothing', async () => {
    // Eligible, lost (the invitation is revoked), eligible again: this service consumed the three decisions, then
    // the old invitation and its revocation.
    const program = await createProgram(h);
    await eligibility(h, w, program.programId, w.L3, true);
    await eligibility(h, w, program.programId, w.L3, false, program.fiscalYear, ['Partner designation lost']);
    const old = revocation(program, w.L3, ['Partner designation lost']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const again = await eligibility(h, w, program.programId, w.L3, true);
    await decisionKnown(program, w.L3, again.eventId);
    await issue(program, w.L3);
    const invited = await enrollmentWith(program.programId, 'INVITED');
    await publish(old);
    await issue(program, w.L3); // issued again after the revocation: the same invitation id, the next cycle
    await settle(w.L3);
    expect(await list(program.programId)).toEqual([expect.objectContaining({ status: 'INVITED', version: invited.version })]);

    // Enrolled (nothing missing: INVITED, next action Submit) after the revocation; the old revocation replayed
    // (another event id) does not end it.
    await approvedProfiles(h, w.partnerId, w.L3);
    const started = await call(h, 'POST', '/v1/enrollments', { token: await w.token('admin'), body: { programId: program.programId, locationId: w.L3 } });
    expect(started.body).toEqual(expect.objectContaining({ status: 'INVITED', nextAction: 'SUBMIT' }));
    await publish({ ...old, eventId: randomUUID() });
    await settle(w.L3);
    expect(await list(program.programId)).toEqual([expect.objectContaining({ status: 'INVITED', version: started.body.version })]);
    expect(eventsOf(invited.enrollmentId).map((e) => e.type)).toEqual(['EnrollmentStarted']);
  });

  it('an enrollment started after the revocation is left to the eligibility decisions', async () => {
    const { program, invited } = await invitedAt(w.L1);
    // Revoked (the decision behind it not consumed yet), but the admin enrolls before the revocation is consumed.
    const revoked = revocation(program, w.L1, ['Partner designation lost']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await approvedProfiles(h, w.partnerId, w.L1);
    const started = await call(h, 'POST', '/v1/enrollments', { token: await w.token('admin'), body: { programId: program.programId, locationId: w.L1 } });
    expect(started.body).toEqual(expect.objectContaining({ enrollmentId: invited.enrollmentId, status: 'INVITED', nextAction: 'SUBMIT' }));
    await publish(revoked);
    await settle(w.L1);
    expect(await list(program.programId)).toEqual([expect.objectContaining({ status: 'INVITED', version: started.body.version })]);

    // The decision ends it.
    await eligibility(h, w, program.programId, w.L1, false, program.fiscalYear, ['Partner designation lost']);
    const ended = await enrollmentWith(program.programId, 'INELIGIBLE');
    expect(ended).toEqual(expect.objectContaining({ reasons: ['Partner designation lost'], version: started.body.version + 1 }));
    await eventually(async () => expect(eventsOf(invited.enrollmentId).map((e) => e.type)).toEqual(['EnrollmentStarted', 'EnrollmentIneligible']));
  });

  it('a late revocation leaves an enrollment ENROLLED once and back to the proposal since (another bank profile chosen): it keeps its year', async () => {
    const { program, invited } = await invitedAt(w.L1);
    const id = invited.enrollmentId as string;
    const token = await w.token('admin');
    const { bank } = await approvedProfiles(h, w.partnerId, w.L1);
    expect((await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId: w.L1 } })).body).toMatchObject({ status: 'INVITED', nextAction: 'SUBMIT' });
    const enrolled = await call(h, 'POST', `/v1/enrollments/${id}/submit`, { token });
    expect(enrolled.body).toMatchObject({ status: 'ENROLLED' });

    // Its bank profile rejected, another one chosen: INVITED (nothing missing, next action Submit), enrolledAt kept.
    await profileEvent(h, 'ProfileUpdated', { ...bank, revision: 2, status: 'PENDING_VALIDATION' });
    await profileEvent(h, 'ProfileActionRequired', { ...bank, revision: 2, status: 'ACTION_REQUIRED', reasons: ['The account is closed.'] });
    await enrollmentWith(program.programId, 'ACTION_REQUIRED');
    const other = bankProfile(w.partnerId, { status: 'APPROVED', currency: 'EUR', name: 'EUR account' });
    await profileEvent(h, 'ProfileApproved', other);
    await profileKnown(h, other);
    const chosen = await call(h, 'POST', `/v1/enrollments/${id}/refresh`, { token, body: { bankProfileId: other.profileId } });
    expect(chosen.body).toMatchObject({ status: 'INVITED', nextAction: 'SUBMIT', enrolledAt: enrolled.body.enrolledAt });

    // The location loses eligibility; the invitations service, which had not seen the enrollment yet, revokes the
    // invitation (its decision not consumed here yet): the completed year stays, as an ineligible decision leaves it.
    await publish(revocation(program, w.L1, ['Partner designation lost']));
    await settle(w.L1);
    expect(await list(program.programId)).toEqual([expect.objectContaining({ status: 'INVITED', version: chosen.body.version })]);
    expect(eventsOf(id).map((e) => e.type)).not.toContain('EnrollmentIneligible');
    await eligibility(h, w, program.programId, w.L1, false, program.fiscalYear, ['Partner designation lost']);
    await eligibilityKnown(h, program.programId, w.L1, program.fiscalYear, false);
    await settle(w.L1);
    expect(await list(program.programId)).toEqual([expect.objectContaining({ status: 'INVITED', version: chosen.body.version })]);
  });

  it('eligible again, the invitation issued again: the enrollment only invited and ended INELIGIBLE is INVITED again (next action ENROLL), in either order', async () => {
    const token = await w.token('admin');
    /** Invited, then the ineligible decision (and the revocation behind it): INELIGIBLE. */
    const endedAt = async (locationId: string) => {
      const { program, invited } = await invitedAt(locationId);
      await eligibility(h, w, program.programId, locationId, false, program.fiscalYear, ['Partner designation lost']);
      const ended = await enrollmentWith(program.programId, 'INELIGIBLE');
      const revoked = revocation(program, locationId, ['Partner designation lost']);
      await publish(revoked);
      expect(ended).toMatchObject({ enrollmentId: invited.enrollmentId, nextAction: null });
      return { program, ended, revoked };
    };

    // The invitation issued again is consumed before the eligible decision behind it (another topic): still
    // INELIGIBLE then; the decision reopens it.
    const first = await endedAt(w.L3);
    await issue(first.program, w.L3);
    await settle(w.L3);
    expect(await list(first.program.programId)).toEqual([expect.objectContaining({ status: 'INELIGIBLE', version: first.ended.version })]);
    await eligibility(h, w, first.program.programId, w.L3, true);
    const reopened = await enrollmentWith(first.program.programId, 'INVITED');
    expect(reopened).toMatchObject({ statusLabel: 'Invited', nextAction: 'ENROLL', reasons: [], missing: [], version: first.ended.version + 1 });
    // EnrollmentInvited tells the other services (the invitations overview's status). The old revocation, delivered
    // again (the same event) or sent again (another event id, its old time: older than the eligible decision), and the
    // invitation again change nothing.
    await publish(first.revoked);
    await publish({ ...first.revoked, eventId: randomUUID() });
    await issue(first.program, w.L3);
    await settle(w.L3);
    expect(await list(first.program.programId)).toEqual([expect.objectContaining({ status: 'INVITED', version: reopened.version })]);
    expect(eventsOf(reopened.enrollmentId).map((e) => [e.type, e.data.status, e.data.previousStatus])).toEqual([
      ['EnrollmentIneligible', 'INELIGIBLE', 'INVITED'],
      ['EnrollmentInvited', 'INVITED', 'INELIGIBLE'],
    ]);
    // Enroll starts it, as from any invitation.
    const started = await call(h, 'POST', '/v1/enrollments', { token, body: { programId: first.program.programId, locationId: w.L3 } });
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ enrollmentId: reopened.enrollmentId, status: 'INVITED', nextAction: 'SUBMIT' });

    // The eligible decision first, then the invitation issued again: INVITED as well.
    const second = await endedAt(w.L1);
    const again = await eligibility(h, w, second.program.programId, w.L1, true);
    await decisionKnown(second.program, w.L1, again.eventId);
    await issue(second.program, w.L1);
    await settle(w.L1);
    expect(await list(second.program.programId)).toEqual([
      expect.objectContaining({ status: 'INVITED', nextAction: 'ENROLL', reasons: [], version: second.ended.version + 1 }),
    ]);
  });
});

// The invitations service revokes when it consumes the not-eligible decision, which may be well after it was made (its
// consumer lagging): the revocation's own time is not the decision's. Compared by it, an eligible decision made in
// between (and an Enroll on it) counted as older, and the enrollment the admin had just started ended INELIGIBLE.
describe('a revocation made late, naming the decision behind it', () => {
  // The eligible decision made at the same instant as the one behind the revocation (a system dating to the second),
  // and read after it: the view holds it as the later of the two, and so does the revocation.
  it.each([
    ['made after that one', 5 * 60_000],
    ['made at the same instant as that one, and read after it', 0],
  ])('changes nothing when this service holds an eligible decision %s', async (_case, eligibleAfter) => {
    const program = await createProgram(h);
    await approvedProfiles(h, w.partnerId, w.L1);
    const lostAt = new Date(Date.now() - 10 * 60_000);
    await eligibility(h, w, program.programId, w.L1, true, CURRENT_FY, [], new Date(lostAt.getTime() - 60_000));
    await eligibilityKnown(h, program.programId, w.L1);
    await issue(program, w.L1);
    await enrollmentWith(program.programId, 'INVITED');
    const lost = await eligibility(h, w, program.programId, w.L1, false, CURRENT_FY, ['Partner designation lost'], lostAt);
    await eligibilityKnown(h, program.programId, w.L1, CURRENT_FY, false);
    await enrollmentWith(program.programId, 'INELIGIBLE');
    await eligibility(h, w, program.programId, w.L1, true, CURRENT_FY, [], new Date(lostAt.getTime() + eligibleAfter));
    await eligibilityKnown(h, program.programId, w.L1);
    // The admin starts it again on the eligible decision.
    const token = await w.token('admin');
    const started = await call(h, 'POST', '/v1/enrollments', { token, body: { programId: program.programId, locationId: w.L1 } });
    expect(started.body).toMatchObject({ status: 'INVITED', nextAction: 'SUBMIT' });
    const before = await enrollmentWith(program.programId, 'INVITED');

    // Now (after the Enroll) the invitations service revokes, on the decision made before the eligible one.
    const late = createEnvelope({
      type: 'InvitationRevoked',
      source: 'invitations',
      partnerId: w.partnerId,
      data: { ...invitationData(program, w.L1), invitationVersion: 2, reasons: ['Partner designation lost'], decision: { eventId: lost.eventId, decidedAt: lost.occurredAt } },
    });
    await publish(late);
    await settle(w.L1);
    expect(await list(program.programId)).toEqual([expect.objectContaining({ status: 'INVITED', version: before.version })]);
  });

  // The invitations service read the decision it names after the eligible one this service holds, at the same instant:
  // the positions tell, and the revocation's decision is the later (it will reach this view too, ending it as well).
  it('ends it when the eligible decision this service holds was made at the same instant as the one named, and read before it', async () => {
    const program = await createProgram(h);
    const at = new Date(Math.floor(Date.now() / 1_000) * 1_000 - 60_000);
    await eligibility(h, w, program.programId, w.L1, true, CURRENT_FY, [], at);
    await eligibilityKnown(h, program.programId, w.L1);
    await issue(program, w.L1);
    await enrollmentWith(program.programId, 'INVITED');
    const view = await h.db.collection<{ _id: string; years: Record<string, { position: { partition: number; offset: string } }> }>('eligibility_view').findOne({ _id: `${program.programId}|${w.L1}` });
    const { partition, offset } = view!.years[CURRENT_FY].position;
    const named = { eventId: randomUUID(), decidedAt: at.toISOString(), position: { partition, offset: String(BigInt(offset) + 1n) } };

    const revoked = (decision: typeof named) =>
      createEnvelope({
        type: 'InvitationRevoked',
        source: 'invitations',
        partnerId: w.partnerId,
        data: { ...invitationData(program, w.L1), invitationVersion: 2, reasons: ['Partner designation lost'], decision },
      });
    // Named read before the eligible one: that one is the later, nothing changes (as for one with no position, above).
    await publish(revoked({ ...named, eventId: randomUUID(), position: { partition, offset: String(BigInt(offset) - 1n) } }));
    await settle(w.L1);
    expect(await list(program.programId)).toEqual([expect.objectContaining({ status: 'INVITED' })]);

    await publish(revoked(named));
    const ended = await enrollmentWith(program.programId, 'INELIGIBLE');
    await eventually(async () => expect(eventsOf(ended.enrollmentId).map((e) => e.data.decision)).toEqual([named]));
  });
});

// The invitation issued again (its version) is what this service knows since a revocation: a revocation of an earlier
// version, consumed again (a replay: a new consumer group; or sent again), changes nothing. Compared by the revocation's
// time alone, one written after the eligible decision behind the new cycle (the invitations service lagging) ended the
// enrollment INELIGIBLE again, and the invitation reopened it: two events, two versions, for nothing.
describe('a revocation of an earlier version of the invitation than the enrollment has recorded', () => {
  it('changes nothing when consumed again after the invitation was issued again', async () => {
    const program = await createProgram(h);
    const id = invitationData(program, w.L1).invitationId;
    await eligibility(h, w, program.programId, w.L1, true);
    await eligibilityKnown(h, program.programId, w.L1);
    await issueInvitation(h, w, program, w.L1, id, 1);
    await enrollmentWith(program.programId, 'INVITED');
    // Eligible again before the invitations service wrote the revocation of version 2 (it lagged): the revocation ends
    // it, the invitation issued again (version 3) reopens it.
    const revoked = createEnvelope({ type: 'InvitationRevoked', source: 'invitations', partnerId: w.partnerId, data: { ...invitationData(program, w.L1), invitationVersion: 2, reasons: ['Partner designation lost'] } });
    await publish(revoked);
    await enrollmentWith(program.programId, 'INELIGIBLE');
    await issueInvitation(h, w, program, w.L1, id, 3);
    const reopened = await enrollmentWith(program.programId, 'INVITED');

    await publish({ ...revoked, eventId: randomUUID() }); // as a replay reads it (the ledger knows this id)
    await settle(w.L1);
    expect(await list(program.programId)).toEqual([expect.objectContaining({ status: 'INVITED', version: reopened.version })]);
    expect(eventsOf(reopened.enrollmentId).map((e) => e.type)).toEqual(['EnrollmentIneligible', 'EnrollmentInvited']);
  });

  it('issued again to wait for an Incentives admin (AdminAssignmentRequested): INVITED again, and the old revocation consumed again changes nothing', async () => {
    const program = await createProgram(h);
    const id = invitationData(program, w.L3).invitationId;
    await eligibility(h, w, program.programId, w.L3, true);
    await eligibilityKnown(h, program.programId, w.L3);
    await issueInvitation(h, w, program, w.L3, id, 1);
    await enrollmentWith(program.programId, 'INVITED');
    const revoked = createEnvelope({ type: 'InvitationRevoked', source: 'invitations', partnerId: w.partnerId, data: { ...invitationData(program, w.L3), invitationVersion: 2, reasons: ['Partner designation lost'] } });
    await publish(revoked);
    await enrollmentWith(program.programId, 'INELIGIBLE');
    // Eligible again, and the location's admins gone meanwhile: the invitation waits (version 3), the company admins asked.
    const waiting = createEnvelope({
      type: 'AdminAssignmentRequested',
      source: 'invitations',
      partnerId: w.partnerId,
      data: { ...invitationData(program, w.L3), invitationVersion: 3, recipients: [] },
    });
    await publish(waiting);
    const reopened = await enrollmentWith(program.programId, 'INVITED');
    expect(reopened).toMatchObject({ nextAction: 'ENROLL', reasons: [] });

    await publish({ ...revoked, eventId: randomUUID() }); // as a replay reads it
    await publish({ ...waiting, eventId: randomUUID() });
    await settle(w.L3);
    expect(await list(program.programId)).toEqual([expect.objectContaining({ status: 'INVITED', version: reopened.version })]);
    expect(eventsOf(reopened.enrollmentId).map((e) => e.type)).toEqual(['EnrollmentIneligible', 'EnrollmentInvited']);
  });
});

describe('an invitation naming a location as another partner\'s', () => {
  it('is dead-lettered with the reason; no enrollment is recorded', async () => {
    const dead = await watchFromNow([deadLetterTopic(Topics.invitations)]);
    try {
      const program = await createProgram(h);
      // L1 is the world partner's, known from identity's events; the invitation says it is another partner's.
      const data = { ...invitationData(program, w.L1), partnerId: w.otherPartnerId, recipients: [], channels: ['NOTICE'], getStartedUrl: 'https://partner.example.com/x', requiresEligibility: true };
      await publish(createEnvelope({ type: 'InvitationIssued', source: 'invitations', partnerId: w.otherPartnerId, data }));
      const [letter] = await dead.watch.waitFor((m) => (m.envelope?.data as { programId?: string } | undefined)?.programId === program.programId, { timeoutMs: 30_000 });
      expect(letter.headers[DeadLetterHeaders.error]).toMatch(new RegExp(`location ${w.L1} as partner ${w.otherPartnerId}'s, but it belongs to another partner`));
      expect(await h.db.collection('enrollments').countDocuments({ programId: program.programId } as never)).toBe(0);
    } finally {
      await dead.close();
    }
  });
});
