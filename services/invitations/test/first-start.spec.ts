import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { bootService, eventually, groupCaughtUp } from '@lib/testing';
import { EligibilityDetermined, Topics } from '@lib/contracts';
import { AppModule } from '../src/app.module';
import { CatchUpGate } from '../src/invitations/catch-up/catch-up-gate';
import { FirstCatchUp, INVITATION_INPUTS } from '../src/invitations/catch-up/first-catch-up';
import { ReconcileInvitation } from '../src/invitations/usecases/reconcile-invitation.use-case';
import { ViewsRepository } from '../src/invitations/views/views.repository';
import { forInvitation, PORTAL, TestPartner, TestUser, World } from './fixtures';

jest.setTimeout(180_000);

/**
 * A new deployment on a running platform: the service starts on an empty database while its topics already hold the
 * history of a partner (its users and roles, a program, decisions, enrollments). The history of the four topics is
 * read side by side, in no order between them; the partner's identity history is long (many users, one partition), so
 * its decisions are read before the roles that give their locations an admin. Nothing is decided until all of it is
 * read: what the service then publishes is what the complete history leads to.
 */
const EACH = 5;
const world = new World();
let partner: TestPartner;
let global: TestUser;
let programId: string;
let invited: string[]; // eligible, with an Incentives admin
let enrolled: string[]; // eligible, with an admin, enrolled since
let revoked: string[]; // eligible, then no longer, with an admin
const admins = new Map<string, TestUser>();

beforeAll(
  () =>
    world.start({
      history: async () => {
        partner = await world.partner(EACH * 3);
        [invited, enrolled, revoked] = [0, 1, 2].map((i) => partner.locationIds.slice(i * EACH, (i + 1) * EACH));
        global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
        programId = await world.program({ name: 'Azure Growth' });
        for (const locationId of partner.locationIds) await world.decide(partner, locationId, programId, true);
        for (const locationId of revoked) await world.decide(partner, locationId, programId, false, { reasons: ['Revenue threshold not met'] });
        // Users of the partner who are no admins, before the admins: the identity partition takes a while to read.
        for (let i = 0; i < 300; i++) await world.user(partner, [], `staff${i}`);
        for (const locationId of partner.locationIds) admins.set(locationId, await world.user(partner, [['INCENTIVES_ADMIN', [locationId]]], 'admin'));
        for (const locationId of enrolled) {
          await world.enrollment(partner, locationId, programId, 'EnrollmentStarted', 'ACTION_REQUIRED', 1);
          await world.enrollment(partner, locationId, programId, 'EnrollmentValidating', 'VALIDATING', 2, { previousStatus: 'ACTION_REQUIRED' });
          await world.enrollment(partner, locationId, programId, 'EnrollmentEnrolled', 'ENROLLED', 3, { previousStatus: 'VALIDATING', completed: true });
        }
      },
    }),
  180_000,
);
afterAll(() => world.stop());

describe('the first start on an empty database, its topics holding history', () => {
  /** A decision in the view with its reconcile put off, as a replica stopped between the two leaves it. */
  async function leftBehind(name: string, locationId = invited[1]): Promise<{ program: string; id: string }> {
    const db = world.service.app.get<Connection>(getConnectionToken());
    const views = world.service.app.get(ViewsRepository);
    const program = await world.program({ name });
    // Handled whole (its reconcile of the program's decisions, none yet, done): only a drain reconciles the one below.
    await groupCaughtUp(world.service.env.KAFKA_GROUP_ID, [Topics.programs]);
    expect(await views.program(program)).not.toBeNull();
    const decision = world.decisionEnvelope(partner, locationId, program, true);
    const id = await views.recordDecision(decision.data as EligibilityDetermined, new Date(decision.occurredAt), decision.eventId, true);
    await db.collection('deferred_reconciles').insertOne({ _id: id as never, n: 1 });
    return { program, id };
  }

  it('invites each eligible location of the history once, to the admins the history gives it, and nobody for what the history completed or revoked', async () => {
    for (const locationId of invited) {
      const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, locationId));
      expect(issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([admins.get(locationId)!.userId]);
      // Caused by an event of the history (its id, in its correlation), as if decided when it was handled: not by a run.
      expect(issued.envelope!.causationId).toEqual(expect.any(String));
      expect(issued.envelope!.causationId).not.toBe(issued.envelope!.correlationId);
    }
    for (const locationId of [...enrolled, ...revoked]) await world.settle(global, partner, locationId);
    for (const locationId of partner.locationIds) {
      // Asked of the company admins only while the admins' roles were not read yet, then delivered to them.
      expect(world.events('AdminAssignmentRequested', forInvitation(programId, locationId))).toEqual([]);
      expect(world.events('InvitationDelivered', forInvitation(programId, locationId))).toEqual([]);
      expect(world.events('InvitationIssued', forInvitation(programId, locationId))).toHaveLength(invited.includes(locationId) ? 1 : 0);
      expect(world.events('InvitationRevoked', forInvitation(programId, locationId))).toEqual([]);
    }
    const listed = (await world.invitations(global)).filter((invitation) => invitation.programId === programId);
    expect(listed.map((invitation) => [invitation.locationId, invitation.state]).sort()).toEqual(invited.map((locationId) => [locationId, 'ISSUED']).sort());
  });

  it('marks the catch-up done with nothing left put off, and decides what comes after it at once', async () => {
    const db = world.service.app.get<Connection>(getConnectionToken());
    await eventually(async () => {
      const state = await db.collection('catch_up').findOne({ _id: 'inputs' as never });
      expect(state?.doneAt).toBeInstanceOf(Date);
    });
    expect(await db.collection('deferred_reconciles').countDocuments()).toBe(0);
    // The CatchUpGate is open: a decision now is decided as it is handled.
    const later = await world.program({ name: 'Azure Later' });
    await world.decide(partner, invited[0], later, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(later, invited[0]));
    expect(issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([admins.get(invited[0])!.userId]);
  });

  /**
   * The service's own sweep (every SWEEP_MS) stopped, so that only the spec's calls drain (`sweepNow`): a tick between
   * a deferral left here and the drain the spec checks would drain it first.
   */
  let sweepNow: () => Promise<boolean>;
  beforeAll(() => {
    const catchUp = world.service.app.get(FirstCatchUp);
    sweepNow = FirstCatchUp.prototype.sweep.bind(catchUp);
    jest.spyOn(catchUp, 'sweep').mockResolvedValue(true);
  });

  it('a deferral left behind (a replica stopped before its drain) is reconciled by the sweep, and by a later start, which opens the gate before its consumers start', async () => {
    const db = world.service.app.get<Connection>(getConnectionToken());
    const admin = admins.get(invited[1])!.userId;

    const { program: swept } = await leftBehind('Azure Swept');
    await sweepNow();
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(swept, invited[1]));
    expect(issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([admin]);
    expect(await db.collection('deferred_reconciles').countDocuments()).toBe(0);

    const { program: atStart } = await leftBehind('Azure At Start');
    const again = await bootService(AppModule, {
      name: 'invitations',
      env: { ...world.issuer.env(), PORTAL_BASE_URL: PORTAL, MONGO_DB: world.service.env.MONGO_DB },
      startAtEndOf: INVITATION_INPUTS,
    });
    try {
      expect(again.app.get(CatchUpGate).isOpen).toBe(true);
      expect(await again.app.get(FirstCatchUp).running).toBe(true);
      const [issuedAtStart] = await world.waitEvent('InvitationIssued', forInvitation(atStart, invited[1]));
      expect(issuedAtStart.envelope!.data.recipients!.map((r) => r.userId)).toEqual([admin]);
      expect(await db.collection('deferred_reconciles').countDocuments()).toBe(0);
    } finally {
      await again.close();
    }
  });

  it('an invitation whose reconcile fails stays put off, for the next sweep, and does not hold up the others', async () => {
    const db = world.service.app.get<Connection>(getConnectionToken());
    const failing = await leftBehind('Azure Failing', invited[2]);
    const passing = await leftBehind('Azure Passing', invited[3]);
    const reconcile = world.service.app.get(ReconcileInvitation);
    const original = reconcile.execute.bind(reconcile);
    const spy = jest.spyOn(reconcile, 'execute').mockImplementation((id) => (id === failing.id ? Promise.reject(new Error('simulated failure')) : original(id)));
    try {
      await sweepNow();
      await world.waitEvent('InvitationIssued', forInvitation(passing.program, invited[3]));
      expect((await db.collection('deferred_reconciles').find().toArray()).map((entry) => String(entry._id))).toEqual([failing.id]);
      expect(world.events('InvitationIssued', forInvitation(failing.program, invited[2]))).toEqual([]);
    } finally {
      spy.mockRestore();
    }
    await sweepNow();
    await world.waitEvent('InvitationIssued', forInvitation(failing.program, invited[2]));
    expect(await db.collection('deferred_reconciles').countDocuments()).toBe(0);
  });
});
