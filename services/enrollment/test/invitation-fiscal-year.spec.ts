/**
 * An invitation of a fiscal year that is over (by the service's Clock, the one Enroll and the rollover read) creates
 * no INVITED enrollment: Enroll would refuse to start it (409 `fiscal-year-ended`), and the next rollover would only
 * expire it and email "expired". It is consumed as usual (not retried, not dead-lettered).
 */
import { Clock } from '@lib/platform';
import { deadLetterTopic, fiscalYearRange, Topics } from '@lib/contracts';
import { eventually, groupCaughtUp } from '@lib/testing';
import { watchFromNow } from './kafka-group';
import { call, createProgram, CURRENT_FY, enrollmentEventsSettled, Harness, issueInvitation, NEXT_FY, withHarness, World } from './support';

jest.setTimeout(120_000);

let h: Harness;
let w: World;
withHarness((harness, world) => ((h = harness), (w = world)));

afterEach(() => jest.restoreAllMocks());

const statuses = async (programId: string) =>
  ((await call(h, 'GET', `/v1/enrollments?programId=${programId}`, { token: await w.token('admin') })).body.items as Array<{ status: string; fiscalYear: string }>).map(
    (e) => `${e.fiscalYear} ${e.status}`,
  );

describe('an invitation of a fiscal year that is over', () => {
  it(`creates no enrollment from InvitationIssued or InvitationDelivered of ${CURRENT_FY} once it is over; consumed, nothing dead-lettered`, async () => {
    const program = await createProgram(h); // still in CURRENT_FY: the operator has not moved it yet
    const sentinel = await createProgram(h, { fiscalYear: NEXT_FY });
    const dead = await watchFromNow([deadLetterTopic(Topics.invitations)]);
    try {
      // Two days after CURRENT_FY ended.
      jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date(fiscalYearRange(CURRENT_FY).end.getTime() + 2 * 86_400_000));
      await issueInvitation(h, w, program, w.L1);
      await h.kafka.publishEvent(Topics.invitations, w.L1, {
        type: 'InvitationDelivered',
        source: 'invitations',
        partnerId: w.partnerId,
        data: {
          invitationId: `inv-${program.programId}-${w.L1}`,
          programId: program.programId,
          programName: program.name,
          partnerId: w.partnerId,
          locationId: w.L1,
          fiscalYear: program.fiscalYear,
          recipients: [{ userId: w.users.admin.userId, email: `${w.users.admin.userId}@example.com` }],
          channels: ['EMAIL', 'NOTICE'],
          getStartedUrl: 'https://partner.example.com/incentives/enroll',
          requiresEligibility: true,
        },
      });
      // A later invitation on the same key (same partition), of NEXT_FY, which is running: once it is recorded, the two
      // before it were handled.
      await issueInvitation(h, w, sentinel, w.L1);
      await eventually(async () => expect(await statuses(sentinel.programId)).toEqual([`${NEXT_FY} INVITED`]));
      await groupCaughtUp(h.service.env.KAFKA_GROUP_ID, [Topics.invitations]);
      await enrollmentEventsSettled(h, { locationId: w.L1 }, [w.L1]);

      expect(await h.db.collection('enrollments').countDocuments({ programId: program.programId })).toBe(0);
      expect(await statuses(program.programId)).toEqual([]);
      expect(h.watch.find((m) => m.topic === Topics.enrollments && (m.envelope?.data as { programId?: string } | undefined)?.programId === program.programId)).toEqual([]);
      // Nothing dead-lettered: a marker on the dead-letter topic, same key (same partition), seen after anything before it.
      const marker = `marker-${program.programId}`;
      await h.kafka.publish(deadLetterTopic(Topics.invitations), w.L1, marker);
      await dead.watch.waitFor((m) => m.raw === marker, { timeoutMs: 30_000 });
      expect(dead.watch.find((m) => m.raw !== marker && m.raw.includes(program.programId))).toEqual([]);
    } finally {
      await dead.close();
    }

    // The same invitation issued again while the year runs (the Clock back to today): recorded as before.
    jest.restoreAllMocks();
    await issueInvitation(h, w, program, w.L1);
    await eventually(async () => expect(await statuses(program.programId)).toEqual([`${CURRENT_FY} INVITED`]));
  });
});
