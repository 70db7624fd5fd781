/**
 * A location's default bank profile as payout-profiles announces it (DefaultBankProfileAssigned/Removed, key
 * locationId), ordered by the default's version, not by occurredAt: two payout-profiles processes whose clocks
 * disagree may write a later change with an earlier occurredAt. Enroll proposes what the newest version says.
 */
import { createEnvelope, DefaultBankProfileChange, Envelope, Topics } from '@lib/contracts';
import { groupCaughtUp } from '@lib/testing';
import { randomUUID } from 'node:crypto';
import { bankProfile, call, createProgram, Harness, profileEvent, profileKnown, withHarness, World } from './support';

jest.setTimeout(120_000);

let h: Harness;
let w: World;
withHarness((harness, world) => ((h = harness), (w = world)));

type DefaultEventType = 'DefaultBankProfileAssigned' | 'DefaultBankProfileRemoved';

/** A default's event as payout-profiles writes it, with its version, written at `occurredAt` by the writer's clock. */
const defaultEvent = (type: DefaultEventType, locationId: string, bankProfileId: string, version: number, occurredAt: Date) =>
  createEnvelope<DefaultBankProfileChange>({
    type,
    source: 'payout-profiles',
    partnerId: w.partnerId,
    occurredAt,
    data: { partnerId: w.partnerId, locationId, bankProfileId, currency: 'USD', version },
  });

const publish = (envelope: Envelope<DefaultBankProfileChange>) => h.kafka.publish(Topics.payoutProfiles, envelope.data.locationId, envelope);

/** The service has handled everything published on payout-profiles.events.v1 so far. */
const settled = () => groupCaughtUp(h.service.env.KAFKA_GROUP_ID, [Topics.payoutProfiles]);

/** The bank profile Enroll proposes for the location (a new program each time, so nothing was proposed before). */
async function proposedBankProfile(locationId: string, caller: 'admin' | 'adminOfOther' = 'admin'): Promise<string | null> {
  const program = await createProgram(h, { requiresEligibility: false });
  const answer = await call(h, 'POST', '/v1/enrollments', { token: await w.token(caller), body: { programId: program.programId, locationId } });
  expect(answer.status).toBe(201);
  return answer.body.proposal.bankProfileId;
}

/** Approved bank profiles of the partner (serving every location), known to the service. */
async function approvedBankProfiles(count: number): Promise<string[]> {
  const profiles = Array.from({ length: count }, () => bankProfile(w.partnerId, { status: 'APPROVED' }));
  for (const profile of profiles) await profileEvent(h, 'ProfileApproved', profile);
  for (const profile of profiles) await profileKnown(h, profile);
  return profiles.map((p) => p.profileId);
}

const now = Date.now();
const at = (offsetMs: number) => new Date(now + offsetMs);

describe('default bank profile events, ordered by version', () => {
  let P1: string;
  let P2: string;
  let firstAssignment: Envelope<DefaultBankProfileChange>;

  beforeAll(async () => {
    [P1, P2] = await approvedBankProfiles(2);
  });

  it('a later assignment written with an earlier occurredAt (another process, its clock behind) is the default', async () => {
    firstAssignment = defaultEvent('DefaultBankProfileAssigned', w.L1, P1, 1, at(1_000));
    await publish(firstAssignment);
    await publish(defaultEvent('DefaultBankProfileAssigned', w.L1, P2, 2, at(0)));
    await settled();
    expect(await proposedBankProfile(w.L1)).toBe(P2);
  });

  it('version 1 delivered again after version 2 (the same event, or a replay of it) changes nothing', async () => {
    await publish(firstAssignment);
    await publish(defaultEvent('DefaultBankProfileAssigned', w.L1, P1, 1, at(1_000)));
    await settled();
    expect(await proposedBankProfile(w.L1)).toBe(P2);
  });

  it('a removal (version 3) before the assignment it follows (version 2, a later occurredAt): no default', async () => {
    await publish(defaultEvent('DefaultBankProfileRemoved', w.L3, P2, 3, at(0)));
    await publish(defaultEvent('DefaultBankProfileAssigned', w.L3, P2, 2, at(1_000)));
    await settled();
    expect(await proposedBankProfile(w.L3)).toBeNull();
  });

  it('a removal of a profile the view does not hold yet removes the older default it holds; the late assignment stays gone', async () => {
    // Version 1: P1; version 2: P2 (delivered last, with a later occurredAt); version 3: P2 removed.
    await publish(defaultEvent('DefaultBankProfileAssigned', w.L2, P1, 1, at(0)));
    await publish(defaultEvent('DefaultBankProfileRemoved', w.L2, P2, 3, at(0)));
    await publish(defaultEvent('DefaultBankProfileAssigned', w.L2, P2, 2, at(1_000)));
    await settled();
    expect(await proposedBankProfile(w.L2, 'adminOfOther')).toBeNull();
  });
});

// An older producer's event (no version) consumed again (a replay: a new consumer group) is the same change: it
// rewrote receivedAt, and a default whose profile the view does not know read as settling for 30 s (409 busy).
describe('a default bank profile event without a version, consumed again', () => {
  it('changes nothing: the view keeps when it received it', async () => {
    const [P] = await approvedBankProfiles(1);
    const unversioned = createEnvelope<DefaultBankProfileChange>({
      type: 'DefaultBankProfileAssigned',
      source: 'payout-profiles',
      partnerId: w.partnerId,
      occurredAt: at(2_000),
      data: { partnerId: w.partnerId, locationId: w.L2, bankProfileId: P, currency: 'USD' },
    });
    const view = () => h.db.collection<{ _id: string; bankProfileId: string; receivedAt: Date }>('default_bank_profile_view').findOne({ _id: w.L2 });
    await publish(unversioned);
    await settled();
    const first = await view();
    expect(first).toMatchObject({ bankProfileId: P });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await publish({ ...unversioned, eventId: randomUUID() }); // as a replay reads it (the ledger knows this id)
    await settled();
    expect((await view())!.receivedAt).toEqual(first!.receivedAt);
  });
});
