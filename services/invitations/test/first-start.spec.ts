import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { bootService, eventually } from '@lib/testing';
import { AppModule } from '../src/app.module';
import { CatchUpGate } from '../src/invitations/catch-up/catch-up-gate';
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
  it('invites each eligible location of the history once, to the admins the history gives it, and nobody for what the history completed or revoked', async () => {
    for (const locationId of invited) {
      const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, locationId));
      expect(issued.envelope!.data.recipients!.map((r) => r.userId)).toEqual([admins.get(locationId)!.userId]);
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

  it('a later start on the same database opens the gate before its consumers start, and reconciles what a replica left put off', async () => {
    const db = world.service.app.get<Connection>(getConnectionToken());
    // As a replica killed between its deferral and its drain leaves it.
    const [invitation] = (await world.invitations(global, `?locationId=${invited[1]}`)).filter((i) => i.programId === programId);
    await db.collection('deferred_reconciles').insertOne({ _id: invitation.invitationId as never, n: 1 });
    const again = await bootService(AppModule, {
      name: 'invitations',
      env: { ...world.issuer.env(), PORTAL_BASE_URL: PORTAL, MONGO_DB: world.service.env.MONGO_DB },
    });
    try {
      expect(again.app.get(CatchUpGate).isOpen).toBe(true);
      await eventually(async () => expect(await db.collection('deferred_reconciles').countDocuments()).toBe(0));
      const [still] = (await world.invitations(global, `?locationId=${invited[1]}`)).filter((i) => i.programId === programId);
      expect(still.state).toBe('ISSUED');
    } finally {
      await again.close();
    }
  });
});
