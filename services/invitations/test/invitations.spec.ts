import { AccessPolicy, AccessViewUpdater } from '@lib/access';
import { DeadLetterHeaders, deadLetterTopic, Envelope, fiscalYearRange, nextFiscalYear, Topics } from '@lib/contracts';
import { PermanentError } from '@lib/messaging';
import { eventually, groupCaughtUp } from '@lib/testing';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { InvitationRepository } from '../src/invitations/invitation.repository';
import { invitationId as invitationIdOf } from '../src/invitations/invitation-ids';
import { DeliverInvitation } from '../src/invitations/usecases/deliver-invitation.use-case';
import { DeliverToLateAdmins } from '../src/invitations/usecases/deliver-to-late-admins.use-case';
import { IssueInvitation } from '../src/invitations/usecases/issue-invitation.use-case';
import { RecordEligibilityDecision } from '../src/invitations/usecases/record-eligibility-decision.use-case';
import { WaitWhenAdminsLeave } from '../src/invitations/usecases/wait-when-admins-leave.use-case';
import { ReconcileInvitation } from '../src/invitations/usecases/reconcile-invitation.use-case';
import { ViewsRepository } from '../src/invitations/views/views.repository';
import { forInvitation, forYear, FY, InvitationEventData, NEXT_FY, PORTAL, TestUser, World } from './fixtures';

jest.setTimeout(90_000);

const world = new World();
beforeAll(() => world.start(), 90_000);
afterAll(() => world.stop());

const getStarted = (programId: string, locationId: string) =>
  `${PORTAL}/incentives/enroll?${new URLSearchParams({ programId, locationId, fiscalYear: FY })}`;

/** A partner with one location, its Global admin and the location's Incentives admin (known to the service), and a program. */
/**
 * The first read of `method` of the service's AccessPolicy that `matches` finds nobody, as if a user event were handled
 * between that read and the write after it; every other read as the view is. `raced`: whether that read happened.
 */
function firstReadFindsNone<M extends 'holders' | 'companyAdmins'>(method: M, matches: (...args: Parameters<AccessPolicy[M]>) => boolean) {
  const policy = world.service.app.get(AccessPolicy);
  const read = (policy[method] as (...args: unknown[]) => Promise<unknown>).bind(policy);
  let raced = false;
  const spy = jest.spyOn(policy, method as 'holders').mockImplementation((async (...args: unknown[]) => {
    if (!raced && matches(...(args as Parameters<AccessPolicy[M]>))) {
      raced = true;
      return [];
    }
    return read(...args);
  }) as never);
  return { spy, raced: () => raced };
}

async function oneLocationWithAdmins() {
  const partner = await world.partner(1);
  const [l1] = partner.locationIds;
  const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
  const admin = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'admin');
  const programId = await world.program();
  await world.known(admin, [l1]);
  await world.known(global, [l1]);
  return { partner, l1, global, admin, programId };
}

/**
 * A partner's location invited while it has no Incentives admin (AWAITING_ADMIN): its Global admin, a user holding no
 * role yet (`name`), and the request that asked for an admin.
 */
async function waitingForAdmin(name: string, program: Parameters<World['program']>[0] = {}) {
  const partner = await world.partner(1);
  const [l1] = partner.locationIds;
  const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
  const user = await world.user(partner, [], name);
  const programId = await world.program(program);
  await world.known(global, [l1]);
  await world.known(user, []);
  await world.decide(partner, l1, programId, true);
  const [requested] = await world.waitEvent('AdminAssignmentRequested', forInvitation(programId, l1));
  return { partner, l1, global, user, programId, requested };
}

describe('issuing invitations from eligibility decisions', () => {
  it("keeps the new name of a program renamed between the issue's read of the program and its write", async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const ann = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'ann');
    const programId = await world.program({ name: 'Old name' });
    await world.known(ann, [l1]);
    await world.program({ programId, name: 'New name', revision: 2 });
    await groupCaughtUp(world.service.env.KAFKA_GROUP_ID, [Topics.programs]);
    // Until the invitation is written, its reads of the program find it as before the rename (the rename handled
    // between that read and the write, renaming no invitation yet); after, as it is.
    const views = world.service.app.get(ViewsRepository);
    const read = views.program.bind(views);
    let written = false;
    const issue = world.service.app.get(IssueInvitation);
    const write = issue.execute.bind(issue);
    const issued = jest.spyOn(issue, 'execute').mockImplementation(async (...args) => {
      try {
        return await write(...args);
      } finally {
        written = true;
      }
    });
    const stale = jest.spyOn(views, 'program').mockImplementation(async (id) => {
      const program = await read(id);
      return id === programId && program && !written ? { ...program, name: 'Old name' } : program;
    });
    try {
      await world.decide(partner, l1, programId, true);
      const [event] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
      expect(event.envelope!.data.programName).toBe('Old name');
      await eventually(async () => expect((await world.invitations(ann, `?locationId=${l1}`))[0]).toMatchObject({ programName: 'New name' }));
    } finally {
      issued.mockRestore();
      stale.mockRestore();
    }
  });

  it('issues an eligible location its invitation: email + notice to every Incentives admin of the location', async () => {
    const partner = await world.partner(2);
    const [l1, l2] = partner.locationIds;
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const ann = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'ann');
    const bob = await world.user(partner, [['INCENTIVES_ADMIN', ['*']]], 'bob');
    const other = await world.user(partner, [['INCENTIVES_ADMIN', [l2]]], 'other');
    const programId = await world.program({ name: 'Azure Partner Incentives' });
    await world.known(ann, [l1]);
    await world.known(bob, [l1, l2]);
    await world.known(other, [l2]);

    await world.decide(partner, l1, programId, true);

    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    expect(issued.key).toBe(l1);
    expect(issued.envelope).toMatchObject({ source: 'invitations', partnerId: partner.partnerId, locationId: l1, version: 1 });
    const data = issued.envelope!.data;
    expect(data).toMatchObject({
      programId,
      programName: 'Azure Partner Incentives',
      partnerId: partner.partnerId,
      locationId: l1,
      fiscalYear: FY,
      channels: ['EMAIL', 'NOTICE'],
      getStartedUrl: getStarted(programId, l1),
      requiresEligibility: true,
    });
    expect(data.recipients!.map((r) => r.userId).sort()).toEqual([ann.userId, bob.userId].sort());
    expect(data.recipients!.find((r) => r.userId === ann.userId)).toEqual({
      userId: ann.userId,
      email: ann.email,
      displayName: ann.displayName,
    });

    for (const admin of [ann, bob]) {
      await eventually(async () =>
        expect(await world.notices(admin)).toEqual([
          expect.objectContaining({
            invitationId: data.invitationId,
            title: 'Partner Incentive Enrollment Invitation',
            programId,
            locationId: l1,
            fiscalYear: FY,
          }),
        ]),
      );
    }
    expect(await world.notices(other)).toEqual([]);
    const [invitation] = await world.invitations(global, `?locationId=${l1}`);
    expect(invitation).toMatchObject({ invitationId: data.invitationId, state: 'ISSUED', getStartedUrl: getStarted(programId, l1) });
    expect(invitation.recipients.map((r: { userId: string }) => r.userId).sort()).toEqual([ann.userId, bob.userId].sort());
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toEqual([]);
  });

  it("shows an invitation's recipients to its company and Incentives admins, not to an Incentives user (identity lists the admins to none)", async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const admin = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'admin');
    const reader = await world.user(partner, [['INCENTIVES_USER', [l1]]], 'reader');
    const programId = await world.program({ name: 'Recipients seen' });
    await world.known(admin, [l1]);
    await world.known(reader, [l1]);
    await world.decide(partner, l1, programId, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    const id = issued.envelope!.data.invitationId;

    const [asAdmin] = await world.invitations(admin, `?locationId=${l1}`);
    expect(asAdmin.recipients).toEqual([expect.objectContaining({ userId: admin.userId, email: admin.email })]);
    const [asReader] = await world.invitations(reader, `?locationId=${l1}`);
    expect(asReader).toMatchObject({ invitationId: id, state: 'ISSUED', recipients: [] });
    const one = await world.get(reader.token, `/v1/invitations/${id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ invitationId: id, recipients: [] });
    expect(JSON.stringify(one.body)).not.toContain(admin.email);
  });

  it('waits for an Incentives admin, asks the Global and Account admins to assign one, and delivers once assigned', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const account = await world.user(partner, [['ACCOUNT_ADMIN', ['*']]], 'account');
    const gone = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'gone');
    await world.deactivate(gone);
    const carol = await world.user(partner, [], 'carol');
    const dave = await world.user(partner, [], 'dave');
    const programId = await world.program();
    await world.known(global, [l1]);
    await world.known(account, [l1]);
    await eventually(async () => expect((await world.get(gone.token, '/v1/overview')).status).toBe(403));
    await world.known(carol, []);
    await world.known(dave, []);

    await world.decide(partner, l1, programId, true);

    const [requested] = await world.waitEvent('AdminAssignmentRequested', forInvitation(programId, l1));
    expect(requested.key).toBe(l1);
    expect(requested.envelope!.data.recipients!.map((r) => r.userId).sort()).toEqual([global.userId, account.userId].sort());
    const invitationId = requested.envelope!.data.invitationId;
    await eventually(async () =>
      expect(await world.invitations(global, `?locationId=${l1}`)).toEqual([
        expect.objectContaining({ invitationId, state: 'AWAITING_ADMIN', recipients: [] }),
      ]),
    );

    await world.assignRole(carol, 'INCENTIVES_ADMIN', [l1]);
    const [delivered] = await world.waitEvent('InvitationDelivered', forInvitation(programId, l1));
    expect(delivered.key).toBe(l1);
    expect(delivered.envelope!.data).toMatchObject({
      invitationId,
      recipients: [{ userId: carol.userId, email: carol.email, displayName: carol.displayName }],
      channels: ['EMAIL', 'NOTICE'],
      getStartedUrl: getStarted(programId, l1),
      requiresEligibility: true,
    });
    await eventually(async () => expect((await world.notices(carol)).map((n) => n.invitationId)).toEqual([invitationId]));
    expect(world.events('InvitationIssued', forInvitation(programId, l1))).toEqual([]);

    // A later admin (through `*`) receives it too; the first one is not told again.
    await world.assignRole(dave, 'INCENTIVES_ADMIN', ['*']);
    await world.waitEvent('InvitationDelivered', forInvitation(programId, l1), 2);
    const deliveries = world.events('InvitationDelivered', forInvitation(programId, l1));
    expect(deliveries.map((d) => d.envelope!.data.recipients!.map((r) => r.userId))).toEqual([[carol.userId], [dave.userId]]);
    await eventually(async () => expect((await world.notices(dave)).map((n) => n.invitationId)).toEqual([invitationId]));
    const [invitation] = await world.invitations(global, `?locationId=${l1}`);
    expect(invitation.state).toBe('ISSUED');
    expect(invitation.recipients.map((r: { userId: string }) => r.userId)).toEqual([carol.userId, dave.userId]);
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toHaveLength(1);
  });

  it("delivers a waiting invitation with its program's name as renamed since, and lists its notice so", async () => {
    const { l1, global, user: erin, programId, requested } = await waitingForAdmin('erin', { name: 'Azure Growth' });
    expect(requested.envelope!.data).toMatchObject({ programName: 'Azure Growth' });

    // Its first handling fails at the renaming (a database timeout): handled again, it still renames.
    const repository = world.service.app.get(InvitationRepository);
    const failing = jest.spyOn(repository, 'renameProgram').mockRejectedValueOnce(new Error('operation timed out'));
    try {
      await world.program({ programId, name: 'Azure Growth Incentive', revision: 2 });
      await eventually(async () => expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ programName: 'Azure Growth Incentive' }));
      // The failed first handling, then the retry's renaming before and after the view write (the list shows the first
      // of the two: the second may still be on its way).
      await eventually(async () => expect(failing).toHaveBeenCalledTimes(3));
      // And no more, once every message on its topics is handled.
      await groupCaughtUp(world.service.env.KAFKA_GROUP_ID, [Topics.programs]);
      expect(failing).toHaveBeenCalledTimes(3);
    } finally {
      failing.mockRestore();
    }
    await world.assignRole(erin, 'INCENTIVES_ADMIN', [l1]);
    const [delivered] = await world.waitEvent('InvitationDelivered', forInvitation(programId, l1));
    expect(delivered.envelope!.data).toMatchObject({ programName: 'Azure Growth Incentive' });
    await eventually(async () => expect(await world.notices(erin)).toEqual([expect.objectContaining({ programName: 'Azure Growth Incentive' })]));
  });

  /** A program snapshot handled while reconciling its decisions fails for good (dead-lettered, the view holding it). */
  async function handledWithReadingFailing(snapshot: Parameters<World['program']>[0]): Promise<void> {
    const failing = jest.spyOn(world.service.app.get(ReconcileInvitation), 'executeAll').mockRejectedValue(new PermanentError('simulated lasting failure'));
    try {
      await world.program(snapshot);
      await groupCaughtUp(world.service.env.KAFKA_GROUP_ID, [Topics.programs]);
    } finally {
      failing.mockRestore();
    }
  }

  it('reads its decisions again on a program change that may change what they lead to (its state), not on a rename, an older snapshot or one sent again; one whose reading failed, or another release stored, the next does', async () => {
    const { l1, global, programId } = await waitingForAdmin('gus', { name: 'Azure Growth' });
    const decisionsRead = jest.spyOn(world.service.app.get(ViewsRepository), 'decisionIdsOfProgram');
    const ofProgram = () => decisionsRead.mock.calls.filter(([id]) => id === programId);
    try {
      await world.program({ programId, name: 'Azure Growth Incentive', revision: 2 });
      await eventually(async () => expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ programName: 'Azure Growth Incentive' }));
      // An older snapshot (a redelivery, a replay), then one closing it: only the last reads them.
      await world.program({ programId, name: 'Azure Growth', revision: 1 });
      await world.program({ programId, name: 'Azure Growth Incentive', revision: 3, state: 'CLOSED' });
      // Every program event handled (the group commits after the handler's work).
      await groupCaughtUp(world.service.env.KAFKA_GROUP_ID, [Topics.programs]);
      expect(ofProgram()).toHaveLength(1);
      // Sent again once its reading is done: nothing more.
      await world.program({ programId, name: 'Azure Growth Incentive', revision: 3, state: 'CLOSED' });
      await groupCaughtUp(world.service.env.KAFKA_GROUP_ID, [Topics.programs]);
      expect(ofProgram()).toHaveLength(1);
      // Reopened, its reading failing for good (dead-lettered, the view holding the snapshot), then only renamed: the
      // rename's snapshot reads them, as the reopening's should have.
      await handledWithReadingFailing({ programId, name: 'Azure Growth Incentive', revision: 4, state: 'OPEN' });
      await world.program({ programId, name: 'Azure Growth 2', revision: 5, state: 'OPEN' });
      await groupCaughtUp(world.service.env.KAFKA_GROUP_ID, [Topics.programs]);
      expect(ofProgram()).toHaveLength(3);
      // Closed by a snapshot another release stored (during a rolling update: the view written, nothing more), its
      // handling cut short; sent again: read, as the view does not say they were read with it closed.
      const programs = world.service.app.get<Connection>(getConnectionToken()).collection<{ _id: string }>('programs');
      await programs.updateOne({ _id: programId }, { $set: { state: 'CLOSED', revision: 6 } });
      await world.program({ programId, name: 'Azure Growth 2', revision: 6, state: 'CLOSED' });
      await groupCaughtUp(world.service.env.KAFKA_GROUP_ID, [Topics.programs]);
      expect(ofProgram()).toHaveLength(4);
      // Reopened, its reading failing, then closed again: as when they were last read (closed), but changed in
      // between (a decision recorded while it was open was not invited then): read.
      await handledWithReadingFailing({ programId, name: 'Azure Growth 2', revision: 7, state: 'OPEN' });
      await world.program({ programId, name: 'Azure Growth 2', revision: 8, state: 'CLOSED' });
      await groupCaughtUp(world.service.env.KAFKA_GROUP_ID, [Topics.programs]);
      expect(ofProgram()).toHaveLength(6);
    } finally {
      decisionsRead.mockRestore();
    }
  });

  it("gives a waiting invitation's Get Started link as the portal's address is now (PORTAL_BASE_URL changed since it was issued)", async () => {
    const { l1, global, user: fran, programId, requested } = await waitingForAdmin('fran');
    const invitationId = requested.envelope!.data.invitationId;
    // Issued while the portal had another address: its stored link names the old one.
    const invitations = world.service.app.get<Connection>(getConnectionToken()).collection<{ _id: string }>('invitations');
    await invitations.updateOne({ _id: invitationId }, { $set: { getStartedUrl: `https://partner.old.test/incentives/enroll?programId=${programId}` } });
    const link = getStarted(programId, l1);
    expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ invitationId, getStartedUrl: link });
    await world.assignRole(fran, 'INCENTIVES_ADMIN', [l1]);
    const [delivered] = await world.waitEvent('InvitationDelivered', forInvitation(programId, l1));
    expect(delivered.envelope!.data).toMatchObject({ getStartedUrl: link });
    await eventually(async () => expect((await world.notices(fran)).map((n) => n.invitationId)).toEqual([invitationId]));
    const selected = await world.post(fran.token, `/v1/notices/${invitationId}/select`);
    expect(selected.body).toMatchObject({ getStartedUrl: link });
    const [location] = await world.overview(fran);
    expect(location.programs).toEqual([expect.objectContaining({ programId, getStartedUrl: link })]);
  });

  it('asks for an Incentives admin once a Global or Account admin is known, when none was when the invitation started waiting', async () => {
    // A new partner whose decision is handled before identity has told of any of its users (no admin of any kind).
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const programId = await world.program();
    const carol = await world.user(partner, [], 'carol');
    await world.known(carol, []);
    await world.decide(partner, l1, programId, true);
    const invitations = world.service.app.get<Connection>(getConnectionToken()).collection<{ _id: string; programId: string; state: string; adminRequestPending?: boolean; outbox?: unknown[] }>('invitations');
    // Nobody to ask: waiting, with no request written (one to nobody would never be sent again).
    await eventually(async () => expect(await invitations.findOne({ programId, locationId: l1 } as never)).toMatchObject({ state: 'AWAITING_ADMIN', adminRequestPending: true }));
    expect((await invitations.findOne({ programId, locationId: l1 } as never))?.outbox ?? []).toEqual([]);
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toEqual([]);

    // The partner's Global admin becomes known: asked now, once.
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const [requested] = await world.waitEvent('AdminAssignmentRequested', forInvitation(programId, l1));
    expect(requested.envelope!.data.recipients!.map((r) => r.userId)).toEqual([global.userId]);
    await eventually(async () => expect(await invitations.findOne({ programId, locationId: l1 } as never)).toMatchObject({ state: 'AWAITING_ADMIN', adminRequestPending: false }));
    // Another company admin appointed while it waits is asked too, by a request naming them alone (every Global and
    // Account admin is told: SPEC Invitations 3); a later event of one asked already asks nobody again.
    const account = await world.user(partner, [['ACCOUNT_ADMIN', ['*']]], 'account');
    const requests = await world.waitEvent('AdminAssignmentRequested', forInvitation(programId, l1), 2);
    expect(requests[1].envelope!.data.recipients!.map((r) => r.userId)).toEqual([account.userId]);
    expect(requests[1].envelope!.data.late).toBe(true);
    expect(requested.envelope!.data).not.toHaveProperty('late');
    expect(requests[1].envelope!.eventId).not.toBe(requested.envelope!.eventId);
    await eventually(async () => expect(await invitations.findOne({ programId, locationId: l1 } as never)).toMatchObject({ askedAdmins: [global.userId, account.userId] }));
    await world.assignRole(global, 'INCENTIVES_USER', [l1]);
    await world.identityHandled(partner);
    // An Incentives admin assigned gets it, and the wait is over.
    await world.assignRole(carol, 'INCENTIVES_ADMIN', [l1]);
    await world.waitEvent('InvitationDelivered', forInvitation(programId, l1));
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toHaveLength(2);
    const delivered = await invitations.findOne({ programId, locationId: l1 } as never);
    expect(delivered).not.toHaveProperty('adminRequestPending');
    expect(delivered).not.toHaveProperty('askedAdmins');
    // A company admin appointed once it is delivered is asked nothing.
    await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'late-global');
    await world.identityHandled(partner);
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toHaveLength(2);
  });

  it('asks at once when the company admins read empty while the waiting invitation was written, and one is known right after', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const programId = await world.program();
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    await world.known(global, [l1]);
    // The first read of the partner's company admins (IssueInvitation's) finds none, as if the admin's user event were
    // handled between that read and the invitation's write: its handler found no pending invitation then.
    const { spy, raced } = firstReadFindsNone('companyAdmins', (partnerId) => partnerId === partner.partnerId);
    try {
      await world.decide(partner, l1, programId, true);
      const [requested] = await world.waitEvent('AdminAssignmentRequested', forInvitation(programId, l1));
      expect(raced()).toBe(true);
      expect(requested.envelope!.data.recipients!.map((r) => r.userId)).toEqual([global.userId]);
    } finally {
      spy.mockRestore();
    }
  });

  it('delivers at once to an Incentives admin its first read missed (their role assigned between that read and its write)', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const programId = await world.program();
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const carol = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'carol');
    await world.known(global, [l1]);
    await world.known(carol, [l1]);
    // The first read of the location's Incentives admins finds none, as if Carol's assignment were handled between that
    // read and the invitation's write: its handler found no invitation to deliver then.
    const { spy, raced } = firstReadFindsNone('holders', (_partnerId, locationId, role) => locationId === l1 && role === 'INCENTIVES_ADMIN');
    try {
      await world.decide(partner, l1, programId, true);
      const [delivered] = await world.waitEvent('InvitationDelivered', forInvitation(programId, l1));
      expect(raced()).toBe(true);
      expect(delivered.envelope!.data.recipients!.map((r) => r.userId)).toEqual([carol.userId]);
    } finally {
      spy.mockRestore();
    }
    // Written waiting first (the company admins asked then), delivered right after.
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toHaveLength(1);
    await eventually(async () => expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ state: 'ISSUED', recipients: [expect.objectContaining({ userId: carol.userId })] }));
  });

  it('issues directly to an admin whose role was assigned before the decision', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const erin = await world.user(partner, [], 'erin');
    const programId = await world.program();
    await world.assignRole(erin, 'INCENTIVES_ADMIN', [l1]);
    await world.known(erin, [l1]);

    await world.decide(partner, l1, programId, true);

    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    expect(issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([erin.userId]);
    await eventually(async () => expect(await world.notices(erin)).toHaveLength(1));
    await world.settle(erin, partner, l1);
    expect(world.events('InvitationDelivered', forInvitation(programId, l1))).toEqual([]);
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toEqual([]);
  });
});

describe('an issued invitation whose Incentives admins all leave (SPEC Invitations 3)', () => {
  const ids = (event: { envelope?: { data: InvitationEventData } }) => event.envelope!.data.recipients!.map((r) => r.userId).sort();

  it('waits again when its last admin loses the role, asks the Global and Account admins, and is delivered to the admin assigned then', async () => {
    const partner = await world.partner(2);
    const [l1, l2] = partner.locationIds;
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const account = await world.user(partner, [['ACCOUNT_ADMIN', ['*']]], 'account');
    const ann = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'ann');
    const zed = await world.user(partner, [['INCENTIVES_ADMIN', ['*']]], 'zed');
    const bob = await world.user(partner, [], 'bob');
    const programId = await world.program();
    await world.known(global, [l1, l2]);
    await world.known(account, [l1, l2]);
    await world.known(ann, [l1]);
    await world.known(zed, [l1, l2]);
    await world.known(bob, []);

    await world.decide(partner, l1, programId, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    expect(ids(issued)).toEqual([ann.userId, zed.userId].sort());
    const invitationId = issued.envelope!.data.invitationId;

    // Ann leaves; Zed (through `*`) still holds it: nothing changes.
    await world.revokeRole(ann, 'INCENTIVES_ADMIN', [l1]);
    await world.identityHandled(partner);
    expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ invitationId, state: 'ISSUED' });

    // Zed's `*` grant goes: nobody left. The company admins are asked to assign one.
    await world.revokeRole(zed, 'INCENTIVES_ADMIN', ['*']);
    const [requested] = await world.waitEvent('AdminAssignmentRequested', forInvitation(programId, l1));
    expect(requested.key).toBe(l1);
    expect(requested.envelope!.data).toMatchObject({ invitationId, partnerId: partner.partnerId, locationId: l1, fiscalYear: FY });
    expect(ids(requested)).toEqual([global.userId, account.userId].sort());
    await eventually(async () =>
      expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ invitationId, state: 'AWAITING_ADMIN' }),
    );
    // The overview still lists it (state AWAITING_ADMIN, "Invited"); nobody has its notice.
    const [location] = (await world.overview(global)).filter((l) => l.locationId === l1);
    expect(location.programs).toEqual(
      expect.arrayContaining([expect.objectContaining({ programId, invitationId, invitationState: 'AWAITING_ADMIN', status: 'Invited', actions: [] })]),
    );
    // Zed holds no role now: no notice, and no list of them (403).
    expect((await world.get(zed.token, '/v1/notices')).status).toBe(403);

    await world.assignRole(bob, 'INCENTIVES_ADMIN', [l1]);
    const [delivered] = await world.waitEvent('InvitationDelivered', forInvitation(programId, l1));
    expect(delivered.envelope!.data).toMatchObject({
      invitationId,
      recipients: [{ userId: bob.userId, email: bob.email, displayName: bob.displayName }],
      channels: ['EMAIL', 'NOTICE'],
      getStartedUrl: getStarted(programId, l1),
      requiresEligibility: true,
    });
    await eventually(async () => expect((await world.notices(bob)).map((n) => n.invitationId)).toEqual([invitationId]));
    const [invitation] = await world.invitations(global, `?locationId=${l1}`);
    expect(invitation.state).toBe('ISSUED');
    // Named once each; Ann's and Zed's notices stay as they were (they are not listed while they hold no role).
    expect(invitation.recipients.map((r: { userId: string }) => r.userId).sort()).toEqual([ann.userId, zed.userId, bob.userId].sort());
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toHaveLength(1);
    expect(world.events('InvitationIssued', forInvitation(programId, l1))).toHaveLength(1);
  });

  // SPEC Invitations 2: a notice selected once is never shown to its recipient again, also once the invitation reached
  // them again (their role given back while it waited).
  it('delivered again to an admin who had selected its notice, left and came back: named again, the notice still not shown', async () => {
    const { partner, l1, global, admin: ann, programId } = await oneLocationWithAdmins();

    await world.decide(partner, l1, programId, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    const invitationId = issued.envelope!.data.invitationId;
    await eventually(async () => expect((await world.notices(ann)).map((n) => n.invitationId)).toEqual([invitationId]));
    expect((await world.post(ann.token, `/v1/notices/${invitationId}/select`)).status).toBe(200);
    expect(await world.notices(ann)).toEqual([]);

    await world.revokeRole(ann, 'INCENTIVES_ADMIN', [l1]);
    await world.waitEvent('AdminAssignmentRequested', forInvitation(programId, l1));
    await world.assignRole(ann, 'INCENTIVES_ADMIN', [l1]);
    const [delivered] = await world.waitEvent('InvitationDelivered', forInvitation(programId, l1));
    expect(ids(delivered)).toEqual([ann.userId]);
    await eventually(async () => expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ invitationId, state: 'ISSUED' }));
    expect(await world.notices(ann)).toEqual([]);
  });

  it('waits again when its admin is deactivated, with a request of its own after the first wait of the cycle', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const carol = await world.user(partner, [], 'carol');
    const dave = await world.user(partner, [], 'dave');
    const programId = await world.program();
    await world.known(global, [l1]);
    await world.known(carol, []);
    await world.known(dave, []);

    // No admin at first: the cycle's first request, then Carol assigned receives it.
    await world.decide(partner, l1, programId, true);
    const [first] = await world.waitEvent('AdminAssignmentRequested', forInvitation(programId, l1));
    const invitationId = first.envelope!.data.invitationId;
    await world.assignRole(carol, 'INCENTIVES_ADMIN', [l1]);
    await world.waitEvent('InvitationDelivered', (d) => forInvitation(programId, l1)(d) && d.recipients![0].userId === carol.userId);

    await world.deactivate(carol);
    const requests = await world.waitEvent('AdminAssignmentRequested', forInvitation(programId, l1), 2);
    expect(requests[1].envelope!.eventId).not.toBe(first.envelope!.eventId);
    expect(ids(requests[1])).toEqual([global.userId]);
    await eventually(async () =>
      expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ invitationId, state: 'AWAITING_ADMIN' }),
    );

    await world.assignRole(dave, 'INCENTIVES_ADMIN', [l1]);
    const [toDave] = await world.waitEvent('InvitationDelivered', (d) => forInvitation(programId, l1)(d) && d.recipients![0].userId === dave.userId);
    expect(ids(toDave)).toEqual([dave.userId]);
    await eventually(async () => expect((await world.notices(dave)).map((n) => n.invitationId)).toEqual([invitationId]));
    expect((await world.invitations(global, `?locationId=${l1}`))[0].state).toBe('ISSUED');
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toHaveLength(2);
  });

  it('changes nothing more when the user event that emptied it is delivered again', async () => {
    const { partner, l1, global, admin, programId } = await oneLocationWithAdmins();
    await world.decide(partner, l1, programId, true);
    await world.waitEvent('InvitationIssued', forInvitation(programId, l1));

    const revoked = await world.revokeRole(admin, 'INCENTIVES_ADMIN', [l1]);
    await world.waitEvent('AdminAssignmentRequested', forInvitation(programId, l1));
    await eventually(async () => expect((await world.invitations(global, `?locationId=${l1}`))[0].state).toBe('AWAITING_ADMIN'));
    const before = (await world.invitations(global, `?locationId=${l1}`))[0];

    // Delivered again (the same event: the ledger drops it) and sent again (another event id: the handler runs).
    await world.kafka.publish(Topics.identity, partner.partnerId, revoked);
    await world.kafka.publish(Topics.identity, partner.partnerId, { ...revoked, eventId: randomUUID() });
    await world.identityHandled(partner);
    await world.settle(global, partner, l1);
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toHaveLength(1);
    expect(world.events('InvitationDelivered', forInvitation(programId, l1))).toEqual([]);
    expect((await world.invitations(global, `?locationId=${l1}`)).find((i) => i.programId === programId)).toEqual(before);
  });
});

/**
 * The admins leave while a handler is writing the invitation to them: the handler read the admins, then the user event
 * is handled whole (role view, then WaitWhenAdminsLeave, which finds no ISSUED invitation yet), then the handler writes
 * it ISSUED to them. The use cases are called directly, one of them held at its write (through Kafka the held batch
 * would hold up the identity events behind it).
 */
describe('an invitation issued or delivered to admins who leave while it is written (SPEC Invitations 3)', () => {
  /** Holds `method` of the service's instance of `type` on the calls `when` picks, until `release()`. */
  function holdAt<T extends object>(type: new (...args: never[]) => T, method: keyof T & string, when: (...args: any[]) => boolean) {
    const target = world.service.app.get(type) as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const original = target[method].bind(target);
    let release!: () => void;
    let reached!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const arrived = new Promise<void>((resolve) => (reached = resolve));
    const spy = jest.spyOn(target, method).mockImplementation(async (...args: unknown[]) => {
      if (when(...args)) {
        reached();
        await released;
      }
      return original(...args);
    });
    return { arrived, release, restore: () => spy.mockRestore() };
  }

  /** The user event as identity publishes it, handled by both of this service's handlers of the identity topic. */
  async function userEvent(user: TestUser, type: string, data: Record<string, unknown>, snapshot: Partial<{ active: boolean; roles: TestUser['roles'] }>) {
    user.revision += 1;
    if (snapshot.roles) user.roles = snapshot.roles;
    const event = {
      ...data,
      user: { userId: user.userId, partnerId: user.partnerId, email: user.email, displayName: user.displayName, active: snapshot.active ?? true, roles: user.roles, revision: user.revision },
    };
    await world.service.app.get(AccessViewUpdater).apply(type, event);
    await world.service.app.get(WaitWhenAdminsLeave).execute(type, event);
  }
  const revoke = (user: TestUser, locationIds: string[]) =>
    userEvent(user, 'RoleRevoked', { role: 'INCENTIVES_ADMIN', locationIds, changedBy: 'test' }, { roles: [] });
  const deactivate = (user: TestUser) => userEvent(user, 'UserDeactivated', {}, { active: false });

  it.each([
    ['its role is revoked', (admin: TestUser, l1: string) => revoke(admin, [l1])],
    ['it is deactivated', (admin: TestUser) => deactivate(admin)],
  ])('an eligible decision read the only admin, who leaves (%s) before the issue is written: it waits, the company admins are asked once', async (_, leave) => {
    const { partner, l1, global, admin, programId } = await oneLocationWithAdmins();
    const held = holdAt(IssueInvitation, 'execute', (command) => command.key.programId === programId && command.key.locationId === l1);
    let decided: Promise<unknown>;
    try {
      decided = world.service.app.get(RecordEligibilityDecision).execute(world.decisionEnvelope(partner, l1, programId, true) as never);
      await held.arrived;
      await leave(admin, l1);
    } finally {
      held.release();
      held.restore();
    }
    await decided;

    await world.settle(global, partner, l1);
    const invitation = (await world.invitations(global, `?locationId=${l1}`)).find((i) => i.programId === programId);
    expect(invitation.state).toBe('AWAITING_ADMIN');
    const [requested, ...more] = world.events('AdminAssignmentRequested', forInvitation(programId, l1));
    expect(more).toEqual([]);
    expect(requested.envelope!.data.recipients!.map((r) => r.userId)).toEqual([global.userId]);
    // The issue written before went out once (the admin read before they left); nothing else.
    expect(world.events('InvitationIssued', forInvitation(programId, l1))).toHaveLength(1);
    expect(world.events('InvitationDelivered', forInvitation(programId, l1))).toEqual([]);
  });

  it('an admin assigned to a waiting invitation loses the role before the delivery is written: it waits again, the company admins are asked again, once', async () => {
    const { partner, l1, global, user: bob, programId } = await waitingForAdmin('bob');

    const held = holdAt(DeliverInvitation, 'execute', (current) => current.programId === programId && current.locationId === l1);
    let delivered: Promise<unknown>;
    try {
      bob.revision += 1;
      bob.roles = [{ role: 'INCENTIVES_ADMIN', locationIds: [l1] }];
      const assigned = {
        user: { userId: bob.userId, partnerId: bob.partnerId, email: bob.email, displayName: bob.displayName, active: true, roles: bob.roles, revision: bob.revision },
        role: 'INCENTIVES_ADMIN',
        locationIds: [l1],
        changedBy: 'test',
      };
      delivered = world.service.app.get(DeliverToLateAdmins).execute('RoleAssigned', assigned);
      await held.arrived;
      await revoke(bob, [l1]);
    } finally {
      held.release();
      held.restore();
    }
    await delivered;

    await world.settle(global, partner, l1);
    const invitation = (await world.invitations(global, `?locationId=${l1}`)).find((i) => i.programId === programId);
    expect(invitation.state).toBe('AWAITING_ADMIN');
    expect(world.events('InvitationDelivered', forInvitation(programId, l1))).toHaveLength(1);
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toHaveLength(2);
  });
});

describe('duplicates and reordering', () => {
  it('changes nothing when the same decision arrives twice, redelivered or re-sent', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const admin = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'admin');
    const programId = await world.program();
    await world.known(admin, [l1]);

    const decision = world.decisionEnvelope(partner, l1, programId, true);
    await world.kafka.publish(Topics.eligibility, l1, decision);
    await world.kafka.publish(Topics.eligibility, l1, decision);
    await world.decide(partner, l1, programId, true);
    await world.settle(admin, partner, l1);

    expect(world.events('InvitationIssued', forInvitation(programId, l1))).toHaveLength(1);
    expect(world.events('InvitationDelivered', forInvitation(programId, l1))).toEqual([]);
    expect(await world.notices(admin)).toHaveLength(2); // this program and the marker
  });

  it('remembers a decision that arrives before its program, and issues once the program is known', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const fay = await world.user(partner, [], 'fay');
    const programId = `PRG-late-${l1}`;
    await world.known(global, [l1]);

    await world.decide(partner, l1, programId, true);
    await world.settle(global, partner, l1); // the decision was handled: nothing for an unknown program
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toEqual([]);

    await world.assignRole(fay, 'INCENTIVES_ADMIN', [l1]); // the role arrives after the decision
    await world.known(fay, [l1]);
    await world.program({ programId, name: 'Late program' });

    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    expect(issued.envelope!.data).toMatchObject({ programName: 'Late program', recipients: [expect.objectContaining({ userId: fay.userId })] });
    await eventually(async () => expect((await world.notices(fay)).map((n) => n.programId)).toContain(programId));
  });

  it('ends in the same invitation whatever the order of decision, role and program events', async () => {
    const partner = await world.partner(3);
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const admin = await world.user(partner, [], 'admin');
    await world.known(global, partner.locationIds);
    const [a, b, c] = partner.locationIds;
    const programId = `PRG-order-${partner.partnerId}`;

    // c: decision first, then program: waits for an admin.
    await world.decide(partner, c, programId, true);
    await world.program({ programId });
    await world.waitEvent('AdminAssignmentRequested', forInvitation(programId, c));
    // b: decision (program known, no admin yet) waits too.
    await world.decide(partner, b, programId, true);
    await world.waitEvent('AdminAssignmentRequested', forInvitation(programId, b));
    // The role comes last for b and c, first for a.
    await world.assignRole(admin, 'INCENTIVES_ADMIN', ['*']);
    await world.known(admin, partner.locationIds);
    await world.decide(partner, a, programId, true);
    // The same facts again, out of order: nothing changes.
    await world.decide(partner, c, programId, true);
    await world.program({ programId });

    await world.waitEvent('InvitationIssued', forInvitation(programId, a));
    await world.waitEvent('InvitationDelivered', forInvitation(programId, b));
    await world.waitEvent('InvitationDelivered', forInvitation(programId, c));
    for (const location of [a, b, c]) await world.settle(global, partner, location);

    const invitations = (await world.invitations(global)).filter((i) => i.programId === programId);
    expect(invitations).toHaveLength(3);
    for (const invitation of invitations) {
      expect(invitation).toMatchObject({ state: 'ISSUED', recipients: [expect.objectContaining({ userId: admin.userId, noticeSelected: false })] });
    }
    const notices = (await world.notices(admin)).filter((n) => n.programId === programId);
    expect(notices.map((n) => n.locationId).sort()).toEqual([a, b, c].sort());
    for (const location of [a, b, c]) {
      const told = [
        ...world.events('InvitationIssued', forInvitation(programId, location)),
        ...world.events('InvitationDelivered', forInvitation(programId, location)),
      ];
      expect(told).toHaveLength(1);
    }
  });

  it('keeps the latest decision when an older one is delivered late', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const admin = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'admin');
    const programId = await world.program();
    await world.known(admin, [l1]);

    await world.decide(partner, l1, programId, true);
    await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    await world.decide(partner, l1, programId, false, { occurredAt: new Date(Date.now() - 3_600_000) });
    await world.settle(admin, partner, l1);

    expect(world.events('InvitationRevoked', forInvitation(programId, l1))).toEqual([]);
    expect((await world.notices(admin)).map((n) => n.programId)).toContain(programId);
  });

  it('two decisions at the same instant: the one read later wins, and the earlier one handled again (a crash before its chunk was recorded) issues nothing', async () => {
    const { partner, l1, admin, programId } = await oneLocationWithAdmins();
    const at = new Date(Math.floor(Date.now() / 1_000) * 1_000); // stamped to the second, as some systems do
    const eligible = await world.decide(partner, l1, programId, true, { occurredAt: at });
    await world.decide(partner, l1, programId, false, { occurredAt: at, reasons: ['Revenue below threshold'] });
    await world.waitEvent('InvitationRevoked', forInvitation(programId, l1));

    // Where the second was read, from the view; the first was read before it, at a lower offset.
    const view = await world.service.app.get<Connection>(getConnectionToken()).collection('eligibility_decisions').findOne({ programId, locationId: l1 });
    expect(view).toMatchObject({ eligible: false, position: { partition: expect.any(Number), offset: expect.any(String) } });
    const { partition, offset } = view!.position as { partition: number; offset: string };
    await world.service.app.get(RecordEligibilityDecision).execute(eligible as never, { partition, offset: String(BigInt(offset) - 1n) });
    await world.settle(admin, partner, l1);

    expect(world.events('InvitationIssued', forInvitation(programId, l1))).toHaveLength(1);
    expect(world.events('InvitationRevoked', forInvitation(programId, l1))).toHaveLength(1);
    expect((await world.invitations(admin, `?locationId=${l1}`)).find((i) => i.programId === programId)).toMatchObject({ state: 'REVOKED' });
  });

  // The enrollment service read an eligible decision and, at the same instant, an ineligible one after it, and ended the
  // enrollment on the second. This service, its eligibility consumer lagging, holds the first when the enrollment's end
  // arrives: by time alone the two tie, and the eligible one counted as later invited again (then the second, arriving,
  // revoked the invitation at once: two emails). Where each was read tells them apart.
  it('does not invite again on an eligible decision made at the same instant as the one the enrollment ended on, and read before it', async () => {
    const { partner, l1, global, admin, programId } = await oneLocationWithAdmins();
    await world.decide(partner, l1, programId, true, { occurredAt: new Date(Date.now() - 60_000) });
    await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    await world.decide(partner, l1, programId, false, { occurredAt: new Date(Date.now() - 30_000) });
    await world.waitEvent('InvitationRevoked', forInvitation(programId, l1));
    const views = world.service.app.get<Connection>(getConnectionToken());
    const read = await views.collection('eligibility_decisions').findOne({ programId, locationId: l1 });
    const { partition, offset } = read!.position as { partition: number; offset: string };
    const after = (n: number) => ({ partition, offset: String(BigInt(offset) + BigInt(n)) });

    const at = new Date(Math.floor(Date.now() / 1_000) * 1_000 - 10_000); // stamped to the second, as some systems do
    const ending = { eventId: randomUUID(), occurredAt: at.toISOString(), position: after(11) };
    await world.enrollment(partner, l1, programId, 'EnrollmentIneligible', 'INELIGIBLE', 2, { decision: ending });
    await eventually(async () =>
      expect(await views.collection('enrollment_statuses').findOne({ programId, locationId: l1 })).toMatchObject({ status: 'INELIGIBLE', endedBy: { position: after(11) } }),
    );
    const record = world.service.app.get(RecordEligibilityDecision);
    await record.execute(world.decisionEnvelope(partner, l1, programId, true, { occurredAt: at }) as never, after(10));
    await world.settle(global, partner, l1);
    expect(world.events('InvitationIssued', forInvitation(programId, l1))).toHaveLength(1);
    const offered = async () => (await world.overview(admin))[0].programs.find((p: { programId: string }) => p.programId === programId);
    expect(await offered()).toMatchObject({ enrollmentStatus: 'INELIGIBLE', actions: [] });

    // One of the same instant read after the one the enrollment ended on is eligible again: issued, Enroll offered.
    await record.execute(world.decisionEnvelope(partner, l1, programId, true, { occurredAt: at }) as never, after(12));
    const issued = await world.waitEvent('InvitationIssued', forInvitation(programId, l1), 2);
    expect(issued[1].envelope!.data.recipients!.map((r) => r.userId)).toEqual([admin.userId]);
    await eventually(async () => expect((await offered()).actions).toEqual(['ENROLL']));
  });
});

describe("the service's Clock", () => {
  it('dates an invitation (issued, delivered, revoked), as it decides by it: not by the machine clock', async () => {
    const { partner, l1, global, admin, programId } = await oneLocationWithAdmins();
    // Within the fiscal year, an hour back: a clock moved in a test, or an instance's skewed one.
    const at = new Date(Math.floor((Date.now() - 3_600_000) / 1000) * 1000);
    const clock = world.clockAt(at);
    try {
      await world.decide(partner, l1, programId, true);
      await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
      const [issued] = await world.invitations(global, `?locationId=${l1}`);
      expect(issued.issuedAt).toBe(at.toISOString());
      expect(issued.recipients.map((r: { userId: string; deliveredAt: string }) => [r.userId, r.deliveredAt])).toEqual([[admin.userId, at.toISOString()]]);
      await world.decide(partner, l1, programId, false, { reasons: ['Partner revenue below threshold'] });
      await world.waitEvent('InvitationRevoked', forInvitation(programId, l1));
      expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ state: 'REVOKED', revokedAt: at.toISOString() });
    } finally {
      clock.mockRestore();
    }
  });
});

describe('revocation', () => {
  it('revokes on an ineligible decision before enrollment, issues again when eligible again, and never revokes once enrolled', async () => {
    const { partner, l1, global, admin, programId } = await oneLocationWithAdmins();

    await world.decide(partner, l1, programId, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    const invitationId = issued.envelope!.data.invitationId;
    await eventually(async () => expect((await world.notices(admin)).map((n) => n.invitationId)).toEqual([invitationId]));

    const lost = await world.decide(partner, l1, programId, false, { reasons: ['Partner revenue below threshold'] });
    const [revoked] = await world.waitEvent('InvitationRevoked', forInvitation(programId, l1));
    expect(revoked.key).toBe(l1);
    // Naming the decision behind it: consumers compare its time, not the revocation's (made when this service read it).
    expect(revoked.envelope!.data).toMatchObject({ invitationId, reasons: ['Partner revenue below threshold'], decision: { eventId: lost.eventId, position: { partition: expect.any(Number), offset: expect.stringMatching(/^\d+$/) } } });
    expect(Date.parse(revoked.envelope!.data.decision!.decidedAt)).toBe(Date.parse(lost.occurredAt));
    await eventually(async () => expect(await world.notices(admin)).toEqual([]));
    // The overview is another projection of the same events: it follows soon after.
    await eventually(async () => {
      const [location] = await world.overview(admin);
      expect(location.programs.find((p: { programId: string }) => p.programId === programId)).toBeUndefined();
    });
    expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ state: 'REVOKED', reasons: ['Partner revenue below threshold'] });
    // The same ineligible decision again: nothing more.
    await world.decide(partner, l1, programId, false, { reasons: ['Partner revenue below threshold'] });

    // Eligible again: issued again (a new cycle, a new event), the notice is back.
    await world.decide(partner, l1, programId, true);
    const reissued = await world.waitEvent('InvitationIssued', forInvitation(programId, l1), 2);
    expect(new Set(reissued.map((m) => m.envelope!.eventId)).size).toBe(2);
    expect(reissued.every((m) => m.envelope!.data.invitationId === invitationId)).toBe(true);
    // Each event tells the invitation's version after its write: consumers order them by it, not by the writers' clocks.
    // The program's revision it was decided by (the program's first).
    expect(issued.envelope!.data.programRevision).toBe(1);
    const versions = [issued, revoked, reissued[1]].map((m) => m.envelope!.data.invitationVersion ?? 0);
    expect(versions[0]).toBe(1);
    expect(versions[1]).toBeGreaterThan(versions[0]);
    expect(versions[2]).toBeGreaterThan(versions[1]);
    await eventually(async () => expect((await world.notices(admin)).map((n) => n.invitationId)).toEqual([invitationId]));

    // Enrolled: the enrollment service owns eligibility loss from now on.
    await world.enrollment(partner, l1, programId, 'EnrollmentStarted', 'ACTION_REQUIRED', 1);
    await world.enrollment(partner, l1, programId, 'EnrollmentEnrolled', 'ENROLLED', 3);
    await world.enrollment(partner, l1, programId, 'EnrollmentValidating', 'VALIDATING', 2); // older, late: ignored
    await eventually(async () => {
      const [overview] = await world.overview(admin);
      expect(overview.programs.find((p: { programId: string }) => p.programId === programId)).toMatchObject({
        enrollmentStatus: 'ENROLLED',
        status: 'Enrolled',
        actions: [],
      });
      expect((await world.invitations(global, `?locationId=${l1}`))[0].state).toBe('ENROLLED');
    });
    await world.decide(partner, l1, programId, false, { reasons: ['Too late'] });
    await world.settle(global, partner, l1);
    expect(world.events('InvitationRevoked', forInvitation(programId, l1))).toHaveLength(1);
    expect((await world.invitations(global, `?locationId=${l1}&state=ENROLLED`)).map((i) => i.invitationId)).toEqual([invitationId]);
  });

  // Revoked, then marked ENROLLED (the enrollment's events came after the decision), then that completion taken back
  // (INELIGIBLE, no longer completed): the invitation is revoked again in the same cycle. A new fact: consumers (the
  // notification service's ledger) skipped it as the first revocation's copy when it had that one's id.
  it('a second revocation in the same cycle is an event of its own, not the first one again', async () => {
    const { partner, l1, global, programId } = await oneLocationWithAdmins();
    await world.decide(partner, l1, programId, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    const invitationId = issued.envelope!.data.invitationId;
    await world.decide(partner, l1, programId, false, { reasons: ['Partner revenue below threshold'] });
    const [first] = await world.waitEvent('InvitationRevoked', forInvitation(programId, l1));

    await world.enrollment(partner, l1, programId, 'EnrollmentEnrolled', 'ENROLLED', 3, { previousStatus: 'VALIDATING' });
    await eventually(async () => expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ invitationId, state: 'ENROLLED' }));
    // Enrolled, it tells no revocation any more (no revokedAt, no reasons).
    const enrolled = (await world.invitations(global, `?locationId=${l1}`))[0];
    expect(enrolled.reasons).toEqual([]);
    expect(enrolled).not.toHaveProperty('revokedAt');
    await world.enrollment(partner, l1, programId, 'EnrollmentIneligible', 'INELIGIBLE', 4, { previousStatus: 'ENROLLED', completed: false });

    const revocations = await world.waitEvent('InvitationRevoked', forInvitation(programId, l1), 2);
    expect(revocations.map((m) => m.envelope!.eventId)).toEqual([first.envelope!.eventId, expect.not.stringMatching(first.envelope!.eventId)]);
    expect(revocations[1].envelope!.data.invitationVersion).toBeGreaterThan(first.envelope!.data.invitationVersion!);
    await eventually(async () => expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ invitationId, state: 'REVOKED', revokedAt: expect.any(String) }));
    // Eligible again: issued again, a new cycle.
    await world.decide(partner, l1, programId, true);
    await world.waitEvent('InvitationIssued', forInvitation(programId, l1), 2);
    await eventually(async () => expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ invitationId, state: 'ISSUED' }));
  });

  it('an ineligible decision whose reasons are all blank revokes with the general reason, not a blank one', async () => {
    const { partner, l1, global, programId } = await oneLocationWithAdmins();
    await world.decide(partner, l1, programId, true);
    await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    await world.decide(partner, l1, programId, false, { reasons: ['', '   '] });
    const [revoked] = await world.waitEvent('InvitationRevoked', forInvitation(programId, l1));
    const general = `The location is no longer eligible for this program in ${FY}.`;
    expect(revoked.envelope!.data.reasons).toEqual([general]);
    expect((await world.invitations(global, `?locationId=${l1}`))[0]).toMatchObject({ state: 'REVOKED', reasons: [general] });
  });
});

describe('a location enrolled before its invitation', () => {
  it('is never invited: not when its decision arrives after ENROLLED, nor after a profile edit sent the enrollment back to validation', async () => {
    const { partner, l1, global, admin, programId } = await oneLocationWithAdmins();
    const overviewStatus = async () => {
      const [location] = await world.overview(admin);
      return location?.programs.find((p: { programId: string }) => p.programId === programId)?.enrollmentStatus;
    };

    // The enrollment service consumed the decision first and the admin enrolled, before the decision reached here.
    await world.enrollment(partner, l1, programId, 'EnrollmentStarted', 'INVITED', 1);
    await world.enrollment(partner, l1, programId, 'EnrollmentEnrolled', 'ENROLLED', 3, { previousStatus: 'VALIDATING' });
    // Handled here before the decision is published (two topics, consumed side by side: published one after the other,
    // the decision could be handled first, and its invitation issued before the enrollment was known).
    await eventually(async () => expect(await overviewStatus()).toBe('ENROLLED'));
    await world.decide(partner, l1, programId, true);
    await world.settle(global, partner, l1);
    expect(await overviewStatus()).toBe('ENROLLED');
    // A profile in use is edited: back to validation (SPEC Enrollment rule 5).
    await world.enrollment(partner, l1, programId, 'EnrollmentValidating', 'VALIDATING', 4, { previousStatus: 'ENROLLED' });
    await eventually(async () => expect(await overviewStatus()).toBe('VALIDATING'));
    await world.settle(global, partner, l1);

    expect(world.events('InvitationIssued', forInvitation(programId, l1))).toHaveLength(0);
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toHaveLength(0);
    expect((await world.notices(admin)).filter((n: { programId: string }) => n.programId === programId)).toEqual([]);
  });
});

describe('an enrollment recorded while its first invitation is being written (another instance)', () => {
  // The enrollment's handler recorded ENROLLED, found no invitation and wrote nothing; the decision's handler had read
  // the enrollment before that, and then wrote the invitation (a new document: no version for the two to meet on).
  it('is followed once the invitation is written: the invitation ends ENROLLED, not ISSUED', async () => {
    const { partner, l1, admin, programId } = await oneLocationWithAdmins();
    await world.enrollment(partner, l1, programId, 'EnrollmentStarted', 'INVITED', 1);
    await world.enrollment(partner, l1, programId, 'EnrollmentEnrolled', 'ENROLLED', 2, { previousStatus: 'INVITED' });
    const views = world.service.app.get(ViewsRepository);
    const invitationId = invitationIdOf({ programId, locationId: l1, fiscalYear: FY });
    await eventually(async () => expect(await views.enrollmentStatus(invitationId)).toMatchObject({ status: 'ENROLLED' }));
    const read = views.enrollmentStatus.bind(views);
    let raced = false;
    const stale = jest.spyOn(views, 'enrollmentStatus').mockImplementation(async (id) => {
      const status = await read(id);
      if (id !== invitationId || raced) return status;
      raced = true;
      return null; // as read before the enrollment's events were recorded
    });
    try {
      await world.decide(partner, l1, programId, true);
      await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
      await eventually(async () => expect((await world.invitations(admin, `?locationId=${l1}`)).find((i: { programId: string }) => i.programId === programId)).toMatchObject({ state: 'ENROLLED' }));
    } finally {
      stale.mockRestore();
    }
    expect(raced).toBe(true);
  });
});

describe('fiscal years and program states', () => {
  // Three consecutive fiscal years from the current one: none is over, so the test reads the same on any date.
  const [Y1, Y2, Y3] = [FY, NEXT_FY, nextFiscalYear(NEXT_FY)];
  /** Every distinct announcement (issued, delivered, admin needed) of a program, as "type location fiscalYear". */
  const announced = (programId: string, names: Record<string, string>): string[] =>
    ['InvitationIssued', 'InvitationDelivered', 'AdminAssignmentRequested']
      .flatMap((type) =>
        world
          .events(type, (data: InvitationEventData) => data.programId === programId)
          .map((m) => `${type} ${names[m.envelope!.data.locationId]} ${m.envelope!.data.fiscalYear}`),
      )
      .sort();

  it("issues and delivers only for the program's current fiscal year; another year's decision waits for the program to move to it", async () => {
    const partner = await world.partner(2);
    const [l1, l2] = partner.locationIds;
    const names = { [l1]: 'l1', [l2]: 'l2' };
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const carol = await world.user(partner, [], 'carol');
    const dave = await world.user(partner, [], 'dave');
    const programId = await world.program({ fiscalYear: Y1 });
    await world.known(global, [l1, l2]);
    await world.known(carol, []);
    await world.known(dave, []);

    // Y1: l1 has no Incentives admin, its invitation waits for one.
    await world.decide(partner, l1, programId, true, { fiscalYear: Y1 });
    await world.waitEvent('AdminAssignmentRequested', forYear(programId, l1, Y1));

    // The program moves to Y2; l2 is eligible for Y2 and waits for an admin too.
    await world.program({ programId, fiscalYear: Y2, revision: 2 });
    await world.decide(partner, l2, programId, true, { fiscalYear: Y2 });
    await world.waitEvent('AdminAssignmentRequested', forYear(programId, l2, Y2));

    // A late Y1 decision and an early Y3 one for l2: not the program's year, nobody is told
    // (Enroll would enroll in Y2: it would refuse, or, for a location enrolled in Y2, is not needed).
    await world.decide(partner, l2, programId, true, { fiscalYear: Y1 });
    await world.decide(partner, l2, programId, true, { fiscalYear: Y3 });
    await world.settle(global, partner, l2);
    expect(announced(programId, names)).toEqual([`AdminAssignmentRequested l1 ${Y1}`, `AdminAssignmentRequested l2 ${Y2}`]);

    // Incentives admins assigned now receive the Y2 invitation only; the Y1 one is not delivered.
    await world.assignRole(carol, 'INCENTIVES_ADMIN', ['*']);
    await world.assignRole(dave, 'INCENTIVES_ADMIN', [l2]); // same partition: handled after carol's event
    await world.waitEvent('InvitationDelivered', forYear(programId, l2, Y2), 2);
    expect(announced(programId, names)).toEqual([
      `AdminAssignmentRequested l1 ${Y1}`,
      `AdminAssignmentRequested l2 ${Y2}`,
      `InvitationDelivered l2 ${Y2}`,
      `InvitationDelivered l2 ${Y2}`,
    ]);
    const l1Invitations = (await world.invitations(global, `?locationId=${l1}`)).filter((i) => i.programId === programId);
    expect(l1Invitations).toEqual([expect.objectContaining({ fiscalYear: Y1, state: 'AWAITING_ADMIN', recipients: [] })]);
    const noticesOf = async (user: typeof carol) =>
      (await world.notices(user)).filter((n) => n.programId === programId).map((n) => `${names[n.locationId]} ${n.fiscalYear}`);
    await eventually(async () => expect(await noticesOf(carol)).toEqual([`l2 ${Y2}`]));

    // The program moves to Y3: l2's Y3 decision becomes an invitation now, and the Y2 notice and overview
    // entry go (Get Started would enroll in Y3).
    await world.program({ programId, fiscalYear: Y3, revision: 3 });
    const [issued] = await world.waitEvent('InvitationIssued', forYear(programId, l2, Y3));
    expect(issued.envelope!.data.recipients!.map((r) => r.userId).sort()).toEqual([carol.userId, dave.userId].sort());
    await eventually(async () => expect(await noticesOf(carol)).toEqual([`l2 ${Y3}`]));
    const overview = await world.overview(carol);
    const entries = overview.flatMap((location: { locationId: string; programs: any[] }) =>
      location.programs.filter((p) => p.programId === programId).map((p) => `${names[location.locationId]} ${p.fiscalYear} ${p.actions}`),
    );
    expect(entries).toEqual([`l2 ${Y3} ENROLL`]);
    expect(world.events('InvitationDelivered', forYear(programId, l1, Y1))).toEqual([]);
  });

  it('delivers nothing and lists no notice while the program is closed; reopening delivers and lists them again', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const ann = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'ann');
    const bob = await world.user(partner, [], 'bob');
    const carl = await world.user(partner, [], 'carl');
    const programId = await world.program();
    const other = await world.program();
    await world.known(ann, [l1]);
    await world.known(bob, []);
    await world.known(carl, []);
    await world.decide(partner, l1, programId, true);
    await world.decide(partner, l1, other, true);
    await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    await world.waitEvent('InvitationIssued', forInvitation(other, l1));
    const listed = async (user: typeof ann) =>
      (await world.notices(user)).map((n) => n.programId).filter((id) => id === programId || id === other).sort();
    await eventually(async () => expect(await listed(ann)).toEqual([programId, other].sort()));

    await world.program({ programId, state: 'CLOSED', revision: 2 });
    await eventually(async () => expect(await listed(ann)).toEqual([other]));

    // Incentives admins assigned while it is closed receive only the open program's invitation.
    await world.assignRole(bob, 'INCENTIVES_ADMIN', [l1]);
    await world.assignRole(carl, 'INCENTIVES_ADMIN', [l1]); // same partition: handled after bob's event
    await world.waitEvent('InvitationDelivered', forInvitation(other, l1), 2);
    expect(world.events('InvitationDelivered', forInvitation(programId, l1))).toEqual([]);
    expect(await listed(bob)).toEqual([other]);

    // Reopened: the admins assigned meanwhile receive it, and every notice is listed again.
    await world.program({ programId, state: 'OPEN', revision: 3 });
    const [delivered] = await world.waitEvent('InvitationDelivered', forInvitation(programId, l1));
    expect(delivered.envelope!.data.recipients!.map((r) => r.userId).sort()).toEqual([bob.userId, carl.userId].sort());
    // Decided by the program's revision 3 (reopened): a reader of the program's events still at revision 2 (closed) knows
    // its view is behind (notification withdraws nothing then).
    expect(delivered.envelope!.data.programRevision).toBe(3);
    for (const admin of [ann, bob, carl]) {
      await eventually(async () => expect(await listed(admin)).toEqual([programId, other].sort()));
    }
    expect(world.events('InvitationDelivered', forInvitation(programId, l1))).toHaveLength(1);
  });
});

describe('after the end of a fiscal year (the service\'s Clock moved)', () => {
  /** Every distinct announcement (issued, delivered, admin needed) of a program at a location, as "type fiscalYear". */
  const announced = (programId: string, locationId: string): string[] =>
    ['InvitationIssued', 'InvitationDelivered', 'AdminAssignmentRequested']
      .flatMap((type) => world.events(type, forInvitation(programId, locationId)).map((m) => `${type} ${m.envelope!.data.fiscalYear}`))
      .sort();

  it(`issues and delivers nothing for a program still in ${FY} once ${FY} is over; the decision is kept, the next year invites as usual`, async () => {
    const partner = await world.partner(2);
    const [l1, l2] = partner.locationIds;
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const ann = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'ann');
    const bob = await world.user(partner, [], 'bob');
    const carl = await world.user(partner, [], 'carl');
    const programId = await world.program({ fiscalYear: FY });
    // A program already in NEXT_FY, for the sentinels below: its l2 invitation waits for an admin.
    const other = await world.program({ fiscalYear: NEXT_FY });
    await world.known(global, [l1, l2]);
    await world.known(ann, [l1]);
    await world.known(bob, []);
    await world.known(carl, []);

    // Three days after FY ended; the operator has not moved the program to NEXT_FY yet (Enroll would answer 409).
    const clock = world.clockAt(new Date(fiscalYearRange(FY).end.getTime() + 3 * 86_400_000));
    try {
      // l1 has an Incentives admin, l2 none: nobody is invited, nobody is asked to assign an admin.
      await world.decide(partner, l1, programId, true);
      await world.decide(partner, l2, programId, true);
      await world.decide(partner, l2, other, true, { fiscalYear: NEXT_FY });
      await world.waitEvent('AdminAssignmentRequested', forYear(other, l2, NEXT_FY));
      // Incentives admins assigned to l2 now: the NEXT_FY invitation reaches them, the FY one does not. Carl's event
      // (same partition, after bob's) delivered means bob's was handled entirely.
      await world.assignRole(bob, 'INCENTIVES_ADMIN', [l2]);
      await world.assignRole(carl, 'INCENTIVES_ADMIN', [l2]);
      await world.waitEvent('InvitationDelivered', forYear(other, l2, NEXT_FY), 2);
      for (const location of [l1, l2]) await world.settle(global, partner, location, NEXT_FY);

      expect(announced(programId, l1)).toEqual([]);
      expect(announced(programId, l2)).toEqual([]);
      expect((await world.invitations(global)).filter((i) => i.programId === programId)).toEqual([]);
      expect((await world.notices(ann)).filter((n) => n.programId === programId)).toEqual([]);
      const [location] = (await world.overview(ann)).filter((l: { locationId: string }) => l.locationId === l1);
      expect(location.programs.filter((p: { programId: string }) => p.programId === programId)).toEqual([]);
      // The decisions are kept (the eligibility view), only not acted on.
      const decisions = world.service.app.get<Connection>(getConnectionToken()).collection('eligibility_decisions');
      expect(await decisions.countDocuments({ programId, fiscalYear: FY, eligible: true })).toBe(2);

      // The program moves to NEXT_FY: that year's decision invites as usual; FY's still tells nobody.
      await world.program({ programId, fiscalYear: NEXT_FY, revision: 2 });
      await world.decide(partner, l1, programId, true, { fiscalYear: NEXT_FY });
      const [issued] = await world.waitEvent('InvitationIssued', forYear(programId, l1, NEXT_FY));
      expect(issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([ann.userId]);
      await world.settle(global, partner, l1, NEXT_FY);
      await world.settle(global, partner, l2, NEXT_FY);
      expect(announced(programId, l1)).toEqual([`InvitationIssued ${NEXT_FY}`]);
      expect(announced(programId, l2)).toEqual([]);
    } finally {
      clock.mockRestore();
    }
  });
});

describe('a location whose enrollment is continued into the new fiscal year (SPEC Enrollment rule 6)', () => {
  type Partner = Awaited<ReturnType<typeof world.partner>>;
  type User = Awaited<ReturnType<typeof world.user>>;

  /** Every distinct announcement (issued, delivered, admin needed) of a program for a location, as "type fiscalYear". */
  const announced = (programId: string, locationId: string): string[] =>
    ['InvitationIssued', 'InvitationDelivered', 'AdminAssignmentRequested']
      .flatMap((type) => world.events(type, forInvitation(programId, locationId)).map((m) => `${type} ${m.envelope!.data.fiscalYear}`))
      .sort();
  const overviewEntries = async (user: User, locationId: string, programId: string): Promise<string[]> => {
    const location = (await world.overview(user)).find((l: { locationId: string }) => l.locationId === locationId);
    return (location?.programs ?? [])
      .filter((p: { programId: string }) => p.programId === programId)
      .map((p: any) => `${p.fiscalYear} ${p.status} ${p.invitationState ?? '-'} [${p.actions}]`);
  };
  const noticesOf = async (user: User, programId: string) =>
    (await world.notices(user)).filter((n) => n.programId === programId).map((n) => n.fiscalYear);

  /** A partner with one location, its Global admin and the location's Incentives admin (both known here), enrolled in FY. */
  async function enrolledLocation() {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const admin = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'admin');
    const programId = await world.program({ fiscalYear: FY });
    await world.known(global, [l1]);
    await world.known(admin, [l1]);
    await enrolledThisYear(partner, global, l1, programId);
    return { partner, l1, global, admin, programId };
  }

  /** This year (FY): invited, then enrolled (Started, Validating, Enrolled), and the service has seen it all. */
  async function enrolledThisYear(partner: Partner, global: User, locationId: string, programId: string): Promise<void> {
    await world.decide(partner, locationId, programId, true, { fiscalYear: FY });
    await world.waitEvent('InvitationIssued', forYear(programId, locationId, FY));
    await world.enrollment(partner, locationId, programId, 'EnrollmentStarted', 'ACTION_REQUIRED', 1);
    await world.enrollment(partner, locationId, programId, 'EnrollmentValidating', 'VALIDATING', 2, { previousStatus: 'ACTION_REQUIRED' });
    await world.enrollment(partner, locationId, programId, 'EnrollmentEnrolled', 'ENROLLED', 3, { previousStatus: 'VALIDATING' });
    await eventually(async () => {
      const invitations = (await world.invitations(global, `?locationId=${locationId}`)).filter((i) => i.programId === programId);
      expect(invitations.map((i) => `${i.fiscalYear} ${i.state}`)).toEqual([`${FY} ENROLLED`]);
    });
  }

  /**
   * The NEXT_FY decision (June), then the program moves to NEXT_FY before the rollover ran. Once the move is seen (the FY
   * notice is no longer listed), the same decision again: handled after the move on the decisions' partition, so
   * `settle` waits for its reconcile too.
   */
  async function moveToNextYear(partner: Partner, admin: User, global: User, locationIds: string[], programId: string): Promise<void> {
    for (const locationId of locationIds) await world.decide(partner, locationId, programId, true, { fiscalYear: NEXT_FY });
    await world.program({ programId, fiscalYear: NEXT_FY, revision: 2 });
    await eventually(async () => expect(await noticesOf(admin, programId)).not.toContain(FY));
    for (const locationId of locationIds) {
      await world.decide(partner, locationId, programId, true, { fiscalYear: NEXT_FY });
      await world.settle(global, partner, locationId);
    }
  }

  it(`invites nobody for ${NEXT_FY} when the program moves before the rollover continued the ${FY} enrollment; the renewal shows on the overview`, async () => {
    const { partner, l1, global, admin, programId } = await enrolledLocation();

    await moveToNextYear(partner, admin, global, [l1], programId);
    expect(announced(programId, l1)).toEqual([`InvitationIssued ${FY}`]);
    expect(await noticesOf(admin, programId)).toEqual([]);
    expect((await world.invitations(global, `?locationId=${l1}`)).filter((i) => i.programId === programId).map((i) => i.fiscalYear)).toEqual([FY]);

    // The rollover continues it: EnrollmentRenewed for NEXT_FY. Still no invitation; the overview shows the enrollment.
    await world.enrollment(partner, l1, programId, 'EnrollmentRenewed', 'ENROLLED', 1, { fiscalYear: NEXT_FY, fromFiscalYear: FY });
    await eventually(async () => expect(await overviewEntries(admin, l1, programId)).toEqual([`${FY} Enrolled ENROLLED []`, `${NEXT_FY} Enrolled - []`]));
    await world.settle(global, partner, l1);
    expect(announced(programId, l1)).toEqual([`InvitationIssued ${FY}`]);
    expect(await noticesOf(admin, programId)).toEqual([]);
    expect((await world.invitations(global, `?locationId=${l1}`)).filter((i) => i.programId === programId).map((i) => i.fiscalYear)).toEqual([FY]);
  });

  /** A location enrolled in FY, continued into NEXT_FY by an operator's early rollover run; the program moved to NEXT_FY. */
  async function continuedEarly() {
    const enrolled = await enrolledLocation();
    const { partner, l1, global, admin, programId } = enrolled;
    // ENROLLED, completed; the NEXT_FY decisions invite nobody.
    await world.enrollment(partner, l1, programId, 'EnrollmentRenewed', 'ENROLLED', 1, { fiscalYear: NEXT_FY, fromFiscalYear: FY, completed: true });
    await moveToNextYear(partner, admin, global, [l1], programId);
    expect(announced(programId, l1)).toEqual([`InvitationIssued ${FY}`]);
    return enrolled;
  }

  /**
   * Enroll starts the NEXT_FY enrollment (ended INELIGIBLE, its invitation issued again) once more, at revision 3: an
   * Incentives admin assigned after it is delivered the invitation, as for any open one, and nothing else is announced.
   */
  async function startedAgainReachesLateAdmin(
    { partner, l1, global, admin, programId }: { partner: Partner; l1: string; global: User; admin: User; programId: string },
    options: { completed?: boolean } = {},
  ): Promise<void> {
    await world.enrollment(partner, l1, programId, 'EnrollmentStarted', 'ACTION_REQUIRED', 3, { fiscalYear: NEXT_FY, previousStatus: 'INELIGIBLE', ...options });
    await eventually(async () => expect(await overviewEntries(admin, l1, programId)).toContain(`${NEXT_FY} Action required ISSUED [ENROLL]`));
    const late = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'late');
    const [delivered] = await world.waitEvent('InvitationDelivered', forYear(programId, l1, NEXT_FY));
    expect(delivered.envelope!.data.recipients!.map((r) => r.userId)).toEqual([late.userId]);
    await world.settle(global, partner, l1);
    expect(announced(programId, l1)).toEqual([`InvitationDelivered ${NEXT_FY}`, `InvitationIssued ${FY}`, `InvitationIssued ${NEXT_FY}`]);
  }

  /** The year-end review undoes it on `decision` (ineligible): FY expires, the continuation ends INELIGIBLE, no longer completed. */
  async function undone({ partner, l1, programId }: { partner: Partner; l1: string; programId: string }, decision: Envelope) {
    await world.enrollment(partner, l1, programId, 'EnrollmentExpired', 'EXPIRED', 4, { previousStatus: 'ENROLLED', completed: true });
    await world.enrollment(partner, l1, programId, 'EnrollmentIneligible', 'INELIGIBLE', 2, { fiscalYear: NEXT_FY, previousStatus: 'ENROLLED', completed: false, decision });
  }

  it(`invites for ${NEXT_FY} once the location is eligible again, when an early renewal into it was undone at year end`, async () => {
    const continued = await continuedEarly();
    const { partner, l1, global, admin, programId } = continued;
    // Its events come before the ineligible decision they followed (another topic): the eligible decision held here,
    // older than the one named, does not invite again. The renewal's event delivered again changes nothing.
    const ineligible = world.decisionEnvelope(partner, l1, programId, false, { fiscalYear: NEXT_FY, reasons: ['OUT_OF_REGION'] });
    await undone(continued, ineligible);
    await world.enrollment(partner, l1, programId, 'EnrollmentRenewed', 'ENROLLED', 1, { fiscalYear: NEXT_FY, fromFiscalYear: FY, completed: true });
    await world.settle(global, partner, l1);
    await world.kafka.publish(Topics.eligibility, l1, ineligible);
    await world.settle(global, partner, l1);
    expect(announced(programId, l1)).toEqual([`InvitationIssued ${FY}`]);

    // Eligible again: its admin is invited to enroll it for NEXT_FY (Enroll starts the INELIGIBLE enrollment again).
    await world.decide(partner, l1, programId, true, { fiscalYear: NEXT_FY });
    const [issued] = await world.waitEvent('InvitationIssued', forYear(programId, l1, NEXT_FY));
    expect(issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([admin.userId]);
    await eventually(async () => expect(await noticesOf(admin, programId)).toEqual([NEXT_FY]));

    // The admin starts it again (no longer the rollover's continuation): an Incentives admin assigned later receives
    // the invitation as for any open one.
    await startedAgainReachesLateAdmin(continued, { completed: false });
    expect(world.events('InvitationRevoked', forYear(programId, l1, NEXT_FY))).toEqual([]);
  });

  it(`invites for ${NEXT_FY} when the location's new eligible decision came before the undone renewal's events`, async () => {
    const continued = await continuedEarly();
    const { partner, l1, global, admin, programId } = continued;
    // The ineligible decision the review ends it on, then the eligible one after it, both handled here first.
    const ineligible = await world.decide(partner, l1, programId, false, { fiscalYear: NEXT_FY, reasons: ['OUT_OF_REGION'] });
    await world.settle(global, partner, l1);
    await world.decide(partner, l1, programId, true, { fiscalYear: NEXT_FY });
    await world.settle(global, partner, l1);
    expect(announced(programId, l1)).toEqual([`InvitationIssued ${FY}`]);

    await undone(continued, ineligible);
    const [issued] = await world.waitEvent('InvitationIssued', forYear(programId, l1, NEXT_FY));
    expect(issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([admin.userId]);
    await world.settle(global, partner, l1);
    expect(announced(programId, l1)).toEqual([`InvitationIssued ${FY}`, `InvitationIssued ${NEXT_FY}`]);
  });

  it(`offers Enroll (Continue) on the overview when the rollover continues the ${FY} enrollment into ${NEXT_FY} as Action required`, async () => {
    const { partner, l1, global, admin, programId } = await enrolledLocation();
    await moveToNextYear(partner, admin, global, [l1], programId);
    // The tax profile expires: continued as Action required, the admin acts on the NEXT_FY enrollment (no invitation).
    await world.enrollment(partner, l1, programId, 'EnrollmentActionRequired', 'ACTION_REQUIRED', 1, { fiscalYear: NEXT_FY, fromFiscalYear: FY });
    await eventually(async () => expect(await overviewEntries(admin, l1, programId)).toEqual([`${FY} Enrolled ENROLLED []`, `${NEXT_FY} Action required - [ENROLL]`]));
    const next = (await world.overview(admin)).find((l) => l.locationId === l1).programs.find((p: { fiscalYear: string }) => p.fiscalYear === NEXT_FY);
    expect(next.getStartedUrl).toBe(`${PORTAL}/incentives/enroll?${new URLSearchParams({ programId, locationId: l1, fiscalYear: NEXT_FY })}`);
    // Its Global admin (not its Incentives admin) sees the Partner Center wording for one in progress.
    expect(await overviewEntries(global, l1, programId)).toEqual([`${FY} Enrolled ENROLLED []`, `${NEXT_FY} Enrolling - []`]);
    await world.settle(global, partner, l1);
    expect(announced(programId, l1)).toEqual([`InvitationIssued ${FY}`]);
  });

  it(`delivers the ${NEXT_FY} invitation to an admin appointed later once the continuation, ended INELIGIBLE, was started again (the ${FY} enrollment, never ended, holds nothing)`, async () => {
    const { partner, l1, global, admin, programId } = await enrolledLocation();
    await moveToNextYear(partner, admin, global, [l1], programId);
    // Continued as Action required (the FY enrollment gets no event: still ENROLLED here), then ended on an ineligible
    // decision, then eligible again: its admin is invited to start it again.
    await world.enrollment(partner, l1, programId, 'EnrollmentActionRequired', 'ACTION_REQUIRED', 1, { fiscalYear: NEXT_FY, fromFiscalYear: FY });
    await world.enrollment(partner, l1, programId, 'EnrollmentIneligible', 'INELIGIBLE', 2, { fiscalYear: NEXT_FY, previousStatus: 'ACTION_REQUIRED' });
    await world.decide(partner, l1, programId, true, { fiscalYear: NEXT_FY });
    const [issued] = await world.waitEvent('InvitationIssued', forYear(programId, l1, NEXT_FY));
    expect(issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([admin.userId]);

    // Started again by Enroll: no longer the rollover's continuation, the year's own enrollment.
    await startedAgainReachesLateAdmin({ partner, l1, global, admin, programId });
  });

  // An operator's early run (the program still in FY): Enroll answers the FY enrollment as it is, changing nothing.
  it(`offers no Enroll on the ${FY} enrollment an early rollover run continued into ${NEXT_FY}, also once that continuation ended and was started again`, async () => {
    const { partner, l1, admin, programId } = await enrolledLocation();
    await world.enrollment(partner, l1, programId, 'EnrollmentActionRequired', 'ACTION_REQUIRED', 5, { previousStatus: 'ENROLLED', completed: true });
    await eventually(async () => expect(await overviewEntries(admin, l1, programId)).toEqual([`${FY} Action required ENROLLED [ENROLL]`]));
    await world.enrollment(partner, l1, programId, 'EnrollmentActionRequired', 'ACTION_REQUIRED', 1, { fiscalYear: NEXT_FY, fromFiscalYear: FY });
    await eventually(async () => expect((await overviewEntries(admin, l1, programId))[0]).toBe(`${FY} Action required ENROLLED []`));
    await world.enrollment(partner, l1, programId, 'EnrollmentIneligible', 'INELIGIBLE', 2, { fiscalYear: NEXT_FY, previousStatus: 'ACTION_REQUIRED' });
    await world.enrollment(partner, l1, programId, 'EnrollmentStarted', 'INVITED', 3, { fiscalYear: NEXT_FY, previousStatus: 'INELIGIBLE' });
    // The started one (Submit next) is continued on its own page, as while it was Action required.
    await eventually(async () => expect(await overviewEntries(admin, l1, programId)).toEqual([`${FY} Action required ENROLLED []`, `${NEXT_FY} Invited - [CONTINUE]`]));
  });

  it(`invites for ${NEXT_FY} once when the ${FY} enrollment (ENROLLED, then back in validation) expires at the rollover instead`, async () => {
    const { partner, l1, global, admin, programId } = await enrolledLocation();
    // A profile edit sends it back to validation: still completed, still continued by the rollover.
    await world.enrollment(partner, l1, programId, 'EnrollmentValidating', 'VALIDATING', 4, { previousStatus: 'ENROLLED' });
    await eventually(async () => expect(await overviewEntries(admin, l1, programId)).toEqual([`${FY} Validating enrollment ENROLLED []`]));

    await moveToNextYear(partner, admin, global, [l1], programId);
    expect(announced(programId, l1)).toEqual([`InvitationIssued ${FY}`]);

    // The rollover expires it (not continued): the NEXT_FY decision invites now, once, also when the event comes again.
    await world.enrollment(partner, l1, programId, 'EnrollmentExpired', 'EXPIRED', 5, { previousStatus: 'VALIDATING' });
    const [issued] = await world.waitEvent('InvitationIssued', forYear(programId, l1, NEXT_FY));
    expect(issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([admin.userId]);
    await eventually(async () => expect(await noticesOf(admin, programId)).toEqual([NEXT_FY]));
    await world.enrollment(partner, l1, programId, 'EnrollmentExpired', 'EXPIRED', 5, { previousStatus: 'VALIDATING' });
    await eventually(async () => expect(await overviewEntries(admin, l1, programId)).toEqual([`${FY} Expired ENROLLED []`, `${NEXT_FY} Invited ISSUED [ENROLL]`]));
    await world.settle(global, partner, l1);
    expect(announced(programId, l1)).toEqual([`InvitationIssued ${FY}`, `InvitationIssued ${NEXT_FY}`]);
  });

  it(`invites for ${NEXT_FY} as before a location never enrolled in ${FY}, and one whose ${FY} enrollment was never completed`, async () => {
    const partner = await world.partner(2);
    const [l1, l2] = partner.locationIds;
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const admin = await world.user(partner, [['INCENTIVES_ADMIN', ['*']]], 'admin');
    const programId = await world.program({ fiscalYear: FY });
    await world.known(global, [l1, l2]);
    await world.known(admin, [l1, l2]);
    // l2 started enrolling in FY and never completed.
    await world.decide(partner, l2, programId, true, { fiscalYear: FY });
    await world.enrollment(partner, l2, programId, 'EnrollmentStarted', 'ACTION_REQUIRED', 1);
    await eventually(async () => expect(await overviewEntries(admin, l2, programId)).toEqual([`${FY} Action required ISSUED [ENROLL]`]));

    await moveToNextYear(partner, admin, global, [l1, l2], programId);
    await world.waitEvent('InvitationIssued', forYear(programId, l1, NEXT_FY));
    await world.waitEvent('InvitationIssued', forYear(programId, l2, NEXT_FY));
    expect(announced(programId, l1)).toEqual([`InvitationIssued ${NEXT_FY}`]);
    expect(announced(programId, l2)).toEqual([`InvitationIssued ${FY}`, `InvitationIssued ${NEXT_FY}`]);
  });
});

describe('dead letters', () => {
  it('dead-letters a malformed decision and processes the next decision for the same location', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const admin = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'admin');
    const programId = await world.program();
    await world.known(admin, [l1]);

    const malformed = world.decisionEnvelope(partner, l1, programId, true);
    (malformed.data as { fiscalYear: string }).fiscalYear = '2027';
    await world.kafka.publish(Topics.eligibility, l1, malformed);
    await world.kafka.publish(Topics.eligibility, l1, 'this is not an envelope');
    await world.decide(partner, l1, programId, true);

    await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    const dead = await world.watch.waitFor(
      (m) =>
        m.topic === deadLetterTopic(Topics.eligibility) &&
        m.key === l1 &&
        m.headers[DeadLetterHeaders.consumerGroup] === world.service.env.KAFKA_GROUP_ID,
      { count: 2, timeoutMs: 30_000 },
    );
    const byEvent = dead.find((m) => m.raw.includes(malformed.eventId))!;
    expect(byEvent.headers[DeadLetterHeaders.error]).toMatch(/fiscalYear/);
    expect(byEvent.headers[DeadLetterHeaders.originalTopic]).toBe(Topics.eligibility);
    expect(dead.find((m) => m.raw === 'this is not an envelope')).toBeDefined();
  });

  it("waits for a location identity has not told of yet, then invites its own partner's admins; never another partner's", async () => {
    const programId = await world.program();
    const owner = { partnerId: `P-${randomUUID()}`, locationIds: [`L1-${randomUUID()}`, `L2-${randomUUID()}`] };
    const [l1, l2] = owner.locationIds;
    const stranger = await world.partner(1);
    const strangersAdmin = await world.user(stranger, [['INCENTIVES_ADMIN', ['*']]], 'stranger');
    await world.known(strangersAdmin, stranger.locationIds);

    // Before identity has told of l1 and l2: the owner's decision for l1, and one naming l2 as the stranger's.
    await world.decide(owner, l1, programId, true);
    const wrong = await world.decide(stranger, l2, programId, true);
    const decisions = world.service.app.get<Connection>(getConnectionToken()).collection('eligibility_decisions');
    await eventually(async () => expect(await decisions.countDocuments({ programId, locationId: { $in: [l1, l2] } })).toBe(2));

    // The owner's admin, then its registration with both locations (same key: in this order).
    const ownersAdmin = await world.user(owner, [['INCENTIVES_ADMIN', [l1, l2]]], 'owner');
    await world.kafka.publishEvent(Topics.identity, owner.partnerId, {
      type: 'PartnerRegistered',
      data: { partnerId: owner.partnerId, name: 'Fabrikam', locations: owner.locationIds.map((locationId) => ({ locationId, country: 'US', legalName: 'Fabrikam' })) },
    });
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    expect(issued.envelope).toMatchObject({ partnerId: owner.partnerId });
    expect(issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([ownersAdmin.userId]);

    // l2's decision named the stranger: the stranger's `*` admin was never invited to it, nobody was asked.
    await world.settle(ownersAdmin, owner, l2);
    expect(world.events('InvitationIssued', forInvitation(programId, l2))).toEqual([]);
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l2))).toEqual([]);
    expect(await world.notices(strangersAdmin)).toEqual([]);
    expect(wrong.partnerId).toBe(stranger.partnerId);

    // The owner's own decision for l2, older than the stranger's (its eligibility system published it late): l2 is
    // known as the owner's now, so it replaces the stranger's and the owner's admin is invited.
    await world.decide(owner, l2, programId, true, { occurredAt: new Date(Date.now() - 3_600_000) });
    const [l2Issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l2));
    expect(l2Issued.envelope).toMatchObject({ partnerId: owner.partnerId });
    expect(l2Issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([ownersAdmin.userId]);
    expect(await world.notices(strangersAdmin)).toEqual([]);
  });

  it("keeps the owner's decision when a later one names another partner before the location is known: its admins are invited once it is, without a resend", async () => {
    const programId = await world.program();
    const owner = { partnerId: `P-${randomUUID()}`, locationIds: [`L3-${randomUUID()}`] };
    const [l3] = owner.locationIds;
    const stranger = await world.partner(1);
    const strangersAdmin = await world.user(stranger, [['INCENTIVES_ADMIN', ['*']]], 'stranger');
    await world.known(strangersAdmin, stranger.locationIds);

    // While l3 is not known: the owner's decision, then a later one naming the stranger (the same key: in order).
    await world.decide(owner, l3, programId, true, { occurredAt: new Date(Date.now() - 60_000) });
    await world.decide(stranger, l3, programId, true);
    const decisions = world.service.app.get<Connection>(getConnectionToken()).collection('eligibility_decisions');
    await eventually(async () =>
      expect(await decisions.findOne({ programId, locationId: l3 })).toMatchObject({
        partnerId: stranger.partnerId,
        otherPartners: [expect.objectContaining({ partnerId: owner.partnerId, eligible: true })],
      }),
    );

    const ownersAdmin = await world.user(owner, [['INCENTIVES_ADMIN', [l3]]], 'owner');
    await world.kafka.publishEvent(Topics.identity, owner.partnerId, {
      type: 'PartnerRegistered',
      data: { partnerId: owner.partnerId, name: 'Fabrikam', locations: [{ locationId: l3, country: 'US', legalName: 'Fabrikam' }] },
    });
    // No decision sent again: the owner's, set aside, is the decision now.
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l3));
    expect(issued.envelope).toMatchObject({ partnerId: owner.partnerId });
    expect(issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([ownersAdmin.userId]);
    expect(await decisions.findOne({ programId, locationId: l3 })).toMatchObject({ partnerId: owner.partnerId, otherPartners: [] });
    expect(await world.notices(strangersAdmin)).toEqual([]);

    // Had a later decision naming the stranger (not eligible) been written over it in the moment identity's event was
    // handled, the owner's invitation still follows the owner's decision: a reconcile (the program updated) leaves it.
    const db = world.service.app.get<Connection>(getConnectionToken());
    const owners = await decisions.findOne({ programId, locationId: l3 });
    await decisions.updateOne(
      { programId, locationId: l3 },
      {
        $set: { partnerId: stranger.partnerId, eligible: false, reasons: ['Wrong partner'], decidedAt: new Date(), eventId: randomUUID(), otherPartners: [{ partnerId: owner.partnerId, eligible: true, reasons: [], decidedAt: owners!.decidedAt, eventId: owners!.eventId }] },
        $inc: { _rev: 1 },
      },
    );
    for (const revision of [2, 3]) {
      await world.program({ programId, revision });
      // The programs topic is keyed by program: once revision 3 is recorded, revision 2's reconciliation is over.
      await eventually(async () => expect((await db.collection('programs').findOne({ _id: programId as never }))?.revision).toBe(revision));
    }
    expect(await db.collection('invitations').findOne({ programId, locationId: l3 })).toMatchObject({ partnerId: owner.partnerId, state: 'ISSUED' });
    expect(world.events('InvitationRevoked', forInvitation(programId, l3))).toEqual([]);
  });

  it("dead-letters a decision that names another partner's location as its own: nobody is invited, nothing is stored", async () => {
    const owner = await world.partner(1);
    const [l1] = owner.locationIds;
    const stranger = await world.partner(1);
    const ownersAdmin = await world.user(owner, [['INCENTIVES_ADMIN', [l1]]], 'owner');
    const strangersAdmin = await world.user(stranger, [['INCENTIVES_ADMIN', ['*']]], 'stranger');
    const strangersGlobal = await world.user(stranger, [['GLOBAL_ADMIN', ['*']]], 'global');
    const programId = await world.program();
    await world.known(ownersAdmin, [l1]);
    await world.known(strangersAdmin, stranger.locationIds);

    const wrong = await world.decide(stranger, l1, programId, true);
    const [dead] = await world.watch.waitFor(
      (m) => m.topic === deadLetterTopic(Topics.eligibility) && m.raw.includes(wrong.eventId),
      { timeoutMs: 30_000 },
    );
    expect(dead.headers[DeadLetterHeaders.error]).toMatch(new RegExp(`location ${l1} .*belongs to another partner`));

    // The owner's own decision after it: invited, only its admin; the stranger's admins got nothing, not even a request.
    await world.decide(owner, l1, programId, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    expect(issued.envelope).toMatchObject({ partnerId: owner.partnerId });
    expect(issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([ownersAdmin.userId]);
    expect(world.events('InvitationIssued', forInvitation(programId, l1))).toHaveLength(1);
    expect(world.events('AdminAssignmentRequested', forInvitation(programId, l1))).toEqual([]);
    expect(await world.notices(strangersAdmin)).toEqual([]);
    expect(await world.invitations(strangersGlobal)).toEqual([]);
  });
});

describe('listing invitations a page at a time (limit, cursor, nextCursor)', () => {
  interface Listed {
    invitationId: string;
    programId: string;
    locationId: string;
    fiscalYear: string;
    state: string;
  }

  /** Every page of `/v1/invitations?{query}&limit=`, following `nextCursor` (at most `maxPages`, so one that never ends fails). */
  async function walk(token: string, query: string, limit: number, maxPages = 20): Promise<{ pages: Listed[][]; nexts: Array<string | undefined> }> {
    const pages: Listed[][] = [];
    const nexts: Array<string | undefined> = [];
    let after: string | undefined;
    do {
      const path = `/v1/invitations?${query}${query ? '&' : ''}limit=${limit}${after ? `&cursor=${encodeURIComponent(after)}` : ''}`;
      const answer = await world.get(token, path);
      expect([path, answer.status]).toEqual([path, 200]);
      pages.push(answer.body.items);
      nexts.push(answer.body.nextCursor);
      after = answer.body.nextCursor;
    } while (after && pages.length < maxPages);
    return { pages, nexts };
  }

  const byListOrder = (a: Listed, b: Listed) =>
    [a.locationId, a.programId, a.fiscalYear, a.invitationId].join('\u0000') < [b.locationId, b.programId, b.fiscalYear, b.invitationId].join('\u0000') ? -1 : 1;

  let global: Awaited<ReturnType<typeof world.user>>;
  let locationIds: string[];
  let all: Listed[];

  beforeAll(async () => {
    // Three locations × two programs: l1 has an Incentives admin (ISSUED), l2 and l3 none (AWAITING_ADMIN).
    const partner = await world.partner(3);
    locationIds = partner.locationIds;
    global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const admin = await world.user(partner, [['INCENTIVES_ADMIN', [locationIds[0]]]], 'admin');
    const programs = [await world.program(), await world.program()];
    await world.known(global, locationIds);
    await world.known(admin, [locationIds[0]]);
    for (const locationId of locationIds) for (const programId of programs) await world.decide(partner, locationId, programId, true);
    await eventually(async () => {
      const listed = await world.invitations(global);
      expect(listed).toHaveLength(6);
      expect(listed.filter((i: Listed) => i.state === 'ISSUED').map((i: Listed) => i.locationId)).toEqual([locationIds[0], locationIds[0]]);
    }, 30_000);
    all = await world.invitations(global);
    expect(new Set(all.map((i) => `${i.locationId} ${i.programId} ${i.fiscalYear}`))).toEqual(
      new Set(locationIds.flatMap((locationId) => programs.map((programId) => `${locationId} ${programId} ${FY}`))),
    );
  }, 90_000);

  it('answers 403 to a user of the partner holding no role (SPEC: everyone else gets 403), 200 once given one', async () => {
    const partner = await world.partner(1);
    const plain = await world.user(partner, [], 'plain');
    // Known to the service (the other 403, of a user it has not heard of, says "yet").
    await eventually(async () => {
      const answer = await world.get(plain.token, '/v1/invitations');
      expect(answer.status).toBe(403);
      expect(answer.body.detail).toMatch(/hold no incentives role and no company admin role/);
    }, 30_000);
    await world.assignRole(plain, 'INCENTIVES_USER', partner.locationIds);
    await eventually(async () => expect((await world.get(plain.token, '/v1/invitations')).status).toBe(200), 30_000);
  });

  it('answers everything on one page without nextCursor when it fits the default page size, in location, program and year order', async () => {
    const answer = await world.get(global.token, '/v1/invitations');
    expect(answer.status).toBe(200);
    expect(answer.body.items).toHaveLength(6);
    expect(answer.body).not.toHaveProperty('nextCursor');
    expect(answer.body.items.map((i: Listed) => i.invitationId)).toEqual([...all].sort(byListOrder).map((i) => i.invitationId));
  });

  it('walks every invitation once, in order, two at a time; only the last page has no nextCursor', async () => {
    const { pages, nexts } = await walk(global.token, '', 2);
    expect(pages.map((page) => page.length)).toEqual([2, 2, 2]);
    expect(nexts.map((next) => typeof next)).toEqual(['string', 'string', 'undefined']);
    expect(pages.flat().map((i) => i.invitationId)).toEqual([...all].sort(byListOrder).map((i) => i.invitationId));

    // A limit that does not divide the list: the last page is the short one.
    const uneven = await walk(global.token, '', 4);
    expect(uneven.pages.map((page) => page.length)).toEqual([4, 2]);
    expect(uneven.pages.flat().map((i) => i.invitationId)).toEqual(pages.flat().map((i) => i.invitationId));
  });

  it('pages within the filters (state, locationId)', async () => {
    const awaiting = await walk(global.token, 'state=AWAITING_ADMIN', 3);
    expect(awaiting.pages.map((page) => page.length)).toEqual([3, 1]);
    expect(awaiting.pages.flat().map((i) => i.invitationId)).toEqual(
      [...all].filter((i) => i.state === 'AWAITING_ADMIN').sort(byListOrder).map((i) => i.invitationId),
    );

    const l2 = await walk(global.token, `locationId=${encodeURIComponent(locationIds[1])}`, 1);
    expect(l2.pages.map((page) => page.length)).toEqual([1, 1]);
    expect(l2.pages.flat().map((i) => i.invitationId)).toEqual(
      [...all].filter((i) => i.locationId === locationIds[1]).sort(byListOrder).map((i) => i.invitationId),
    );
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=ten', 'limit'],
    ['cursor=made-up', 'cursor'],
    [`cursor=${Buffer.from(JSON.stringify(['L1', 'PRG'])).toString('base64url')}`, 'cursor'],
    ['cursor=', 'cursor'],
    ['locationId=', 'locationId'], // listed every visible invitation
    [`locationId=${'L'.repeat(65)}`, 'locationId'],
  ])('refuses %s with a 400 problem naming %s', async (query, field) => {
    const answer = await world.get(global.token, `/v1/invitations?${query}`);
    expect(answer.status).toBe(400);
    expect(answer.contentType).toContain('application/problem+json');
    expect(answer.body.errors.map((e: { field: string }) => e.field)).toEqual([field]);
  });
});
