import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { Topics } from '@lib/contracts';
import { HistoryFloors } from '../src/invitations/catch-up/history-floors';
import { InvitationEventIds } from '../src/invitations/invitation-events';
import { invitationId as invitationIdOf } from '../src/invitations/invitation-ids';
import { forInvitation, FY, PORTAL, TestPartner, TestUser, World } from './fixtures';

jest.setTimeout(180_000);

/**
 * The service starts on an empty database (its own lost, or a new one) while invitations.events.v1 holds what an
 * earlier deployment published: an invitation of a location issued, revoked, and issued again (cycles 1 and 2, versions
 * 1 to 3), the location still eligible. Issued again from its first cycle, the invitation's events had ids an earlier
 * cycle used (consumers drop them as duplicates: nobody would be invited), and versions below the earlier ones
 * (consumers that keep the highest take them for old ones).
 */
const world = new World();
let partner: TestPartner;
let admin: TestUser;
let programId: string;
let known: string; // the location the earlier deployment invited
let fresh: string; // one it never did
const earlierIds = new Set<string>();

beforeAll(
  () =>
    world.start({
      historyFloors: true,
      history: async () => {
        partner = await world.partner(2);
        [known, fresh] = partner.locationIds;
        admin = await world.user(partner, [['INCENTIVES_ADMIN', [known, fresh]]], 'admin');
        programId = await world.program({ name: 'Azure Growth' });
        for (const locationId of [known, fresh]) await world.decide(partner, locationId, programId, true);
        // The earlier deployment's events of the known location's invitation, as it published them.
        const id = invitationIdOf({ programId, locationId: known, fiscalYear: FY });
        const base = { invitationId: id, programId, programName: 'Azure Growth', partnerId: partner.partnerId, locationId: known, fiscalYear: FY };
        const recipients = [{ userId: admin.userId, email: admin.email, displayName: admin.displayName }];
        const issued = (cycle: number, invitationVersion: number) => ({
          type: 'InvitationIssued',
          source: 'invitations',
          eventId: InvitationEventIds.issued({ ...base, _id: id, cycle } as never),
          data: { ...base, invitationVersion, recipients, channels: ['EMAIL', 'NOTICE'], getStartedUrl: `${PORTAL}/incentives/enroll`, requiresEligibility: true },
        });
        const revoked = { type: 'InvitationRevoked', source: 'invitations', eventId: InvitationEventIds.revoked({ ...base, _id: id, cycle: 1 } as never), data: { ...base, invitationVersion: 2, reasons: ['x'] } };
        for (const event of [issued(1, 1), revoked, issued(2, 3)] as Array<{ type: string; source: string; eventId: string; data: unknown }>) {
          earlierIds.add(event.eventId);
          await world.kafka.publishEvent(Topics.invitations, known, event);
        }
      },
    }),
  180_000,
);
afterAll(() => world.stop());

describe('the first start on an empty database, its own topic holding an earlier deployment’s events', () => {
  it('issues an invitation the earlier deployment published above its versions and cycles; one it never did from the first', async () => {
    const ours = async (locationId: string) =>
      (await world.waitEvent('InvitationIssued', forInvitation(programId, locationId), locationId === known ? 3 : 1)).filter((m) => !earlierIds.has(m.envelope!.eventId));
    const [again] = await ours(known);
    const id = invitationIdOf({ programId, locationId: known, fiscalYear: FY });
    // Three events named it: no cycle above the third was used; its version follows the highest (3).
    expect(again.envelope!.data).toMatchObject({ invitationVersion: 4, recipients: [expect.objectContaining({ userId: admin.userId })] });
    expect(again.envelope!.eventId).toBe(InvitationEventIds.issued({ _id: id, cycle: 4 } as never));
    const [first] = await ours(fresh);
    expect(first.envelope!.data).toMatchObject({ invitationVersion: 1 });
    expect(first.envelope!.eventId).toBe(InvitationEventIds.issued({ _id: invitationIdOf({ programId, locationId: fresh, fiscalYear: FY }), cycle: 1 } as never));

    const db = world.service.app.get<Connection>(getConnectionToken());
    expect(await db.collection('invitations').findOne({ _id: id as never })).toMatchObject({ state: 'ISSUED', cycle: 4, version: 4 });
    expect(await db.collection('history_floors').findOne({ _id: id as never })).toMatchObject({ above: 3 });
    expect(await db.collection('catch_up').findOne({ _id: 'inputs' as never })).toMatchObject({ own: { doneAt: expect.any(Date), invitations: expect.any(Number) } });
  });
});

describe('reading the floors', () => {
  // Ends stored at the first start that the topic no longer has (created again, a log cut short, a partition gone):
  // read up to where it ends now, not waited for until the stall gives up, again and again.
  it('reads a target beyond the end the topic has now up to that end, and passes over a partition gone', async () => {
    const floors = world.service.app.get(HistoryFloors);
    const id = invitationIdOf({ programId, locationId: known, fiscalYear: FY });
    const started = Date.now();
    const read = await floors.read(
      [...Array.from({ length: 6 }, (_, partition) => ({ partition, end: '9223372036854775000' })), { partition: 97, end: '5' }],
      () => false,
      new Promise(() => undefined),
    );
    expect(read).toBeGreaterThanOrEqual(2);
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(await floors.of(id)).toMatchObject({ above: 4 });
  });

  it('is given up at once when shutdown begins', async () => {
    const floors = world.service.app.get(HistoryFloors);
    // (Told by the stop alone: a broker not answering would hold a read for its retries.)
    await expect(floors.read([{ partition: 0, end: '1' }], () => false, Promise.resolve())).rejects.toThrow('shutting down');
  });
});

