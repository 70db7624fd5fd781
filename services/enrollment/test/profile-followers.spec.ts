import { Clock } from '@lib/platform';
import { Enrollment } from '../src/enrollments/enrollment.schema';
import { RecordProfileChange } from '../src/enrollments/usecases/record-profile-change.use-case';
import { enrollmentsOnTestServer } from './enrollments-on-test-server';

// Against the test database server (real connections): the enrollments a bank profile's event makes follow it are
// read as a stream, ended ones left out, and the consumer's heartbeat goes on while they follow it.
const db = enrollmentsOnTestServer('profile_followers', { monitorCommands: true });

const FY = 'FY27';
const submitted = new Date('2026-08-01T00:00:00Z');

function enrollment(id: string, status: Enrollment['status'], bankProfileId: string, partnerId = 'p1'): Partial<Enrollment> {
  return { _id: id, programId: 'prog', partnerId, locationId: `L-${id}`, fiscalYear: FY, status, bankProfileId, bankChosen: true, submittedAt: submitted, evaluatedAt: submitted, version: 1, reasons: [], missing: [] };
}

/** RecordProfileChange with the profile view and everything but the enrollments stubbed: `follow` is FollowValidation's apply. */
function following(follow: (current: Enrollment) => Promise<Enrollment>): RecordProfileChange {
  return new RecordProfileChange(
    { recordProfile: async () => undefined } as never,
    db.repository,
    { find: async () => ({ fiscalYear: FY, payoutRules: { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ACH'], taxProfileRequired: false } }) } as never,
    { apply: follow } as never,
    {} as never,
    {} as never,
    {} as never,
    { now: () => new Date('2026-09-01T00:00:00Z') } as Clock,
  );
}

it("streams the partner's enrollments using the profile, ended ones left out, with a heartbeat before each group of them followed together", async () => {
  // More than one batch of the stream (500), so that it reads on past the first.
  const using = Array.from({ length: 1_203 }, (_, i) => enrollment(`v${String(i).padStart(4, '0')}`, i % 2 ? 'VALIDATING' : 'ENROLLED', 'bank-1'));
  await db.model.collection.insertMany([
    ...using,
    enrollment('expired', 'EXPIRED', 'bank-1'),
    enrollment('discontinued', 'DISCONTINUED', 'bank-1'),
    enrollment('other-profile', 'VALIDATING', 'bank-2'),
    enrollment('other-partner', 'VALIDATING', 'bank-1', 'p2'),
  ] as never[]);
  const followed: string[] = [];
  const steps: string[] = [];
  const profiles = following(async (current) => (followed.push(current._id), steps.push('follow'), current));

  const changed = await profiles.execute({ partnerId: 'p1', profileKind: 'BANK', profileId: 'bank-1' } as never, new Date(), async () => void steps.push('heartbeat'));

  expect(changed).toBe(0); // the stub's follow changes nothing
  expect(followed.sort()).toEqual(using.map((e) => e._id));
  // 32 at a time (the last group the rest), each group after its heartbeat.
  const groups = Math.ceil(using.length / 32);
  expect(steps).toHaveLength(using.length + groups);
  const expected = Array.from({ length: groups }, (_, g) => ['heartbeat', ...Array(Math.min(32, using.length - g * 32)).fill('follow')]).flat();
  expect(steps).toEqual(expected);
});

it('follows the enrollments of one group at the same time, not one after another', async () => {
  await db.model.collection.insertMany(Array.from({ length: 64 }, (_, i) => enrollment(`c${String(i).padStart(4, '0')}`, 'VALIDATING', 'bank-5')) as never[]);
  let running = 0;
  let most = 0;
  const profiles = following(async (current) => {
    most = Math.max(most, ++running);
    await new Promise((resolve) => setTimeout(resolve, 20));
    running--;
    return current;
  });
  await profiles.execute({ partnerId: 'p1', profileKind: 'BANK', profileId: 'bank-5' } as never, new Date());
  expect(most).toBe(32); // one after another, never more than one at a time (no wall-clock bound: it flakes under load)
});

it('closes the stream on the server when following fails half-way (the consumer retries the event)', async () => {
  // More than a batch: the server holds a cursor for the rest.
  await db.model.collection.insertMany(Array.from({ length: 600 }, (_, i) => enrollment(`w${String(i).padStart(4, '0')}`, 'VALIDATING', 'bank-3')) as never[]);
  const killed: string[] = [];
  const client = db.connection.getClient();
  const onCommand = (event: { commandName: string }) => void killed.push(event.commandName);
  client.on('commandStarted', onCommand);
  let calls = 0;
  const profiles = following(async (current) => {
    if (++calls === 3) throw new Error('the database went away');
    return current;
  });
  try {
    await expect(profiles.execute({ partnerId: 'p1', profileKind: 'BANK', profileId: 'bank-3' } as never, new Date())).rejects.toThrow('the database went away');
  } finally {
    client.off('commandStarted', onCommand);
  }
  // The failure surfaces once its group (32, followed together) is done; nothing after it is followed.
  expect(calls).toBe(32);
  expect(killed).toContain('killCursors');
});

it("reads no past year's enrollment the rollover is done with, and does read a past year's it has not decided yet, and an early run's still in its year", async () => {
  const rollover = (toFiscalYear: string) => ({ toFiscalYear, outcome: 'RENEWED', at: new Date('2026-07-01T00:00:00Z') });
  const year = (id: string, fiscalYear: string, marked?: string) => ({ ...enrollment(id, 'ENROLLED', 'bank-4'), fiscalYear, ...(marked && { rollover: rollover(marked) }) });
  await db.model.collection.insertMany([
    year('fy25-renewed', 'FY25', 'FY26'),
    year('fy26-renewed', 'FY26', 'FY27'),
    year('fy26-undecided', 'FY26'),
    year('fy27-early', 'FY27', 'FY28'),
    year('fy27', 'FY27'),
  ] as never[]);
  const read: string[] = [];
  for await (const e of db.repository.ofProfile({ partnerId: 'p1', profileKind: 'BANK', profileId: 'bank-4' }, new Date('2026-09-01T00:00:00Z'))) read.push(e._id);
  expect(read.sort()).toEqual(['fy26-undecided', 'fy27', 'fy27-early']);
});
