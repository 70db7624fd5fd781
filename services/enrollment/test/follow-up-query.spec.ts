import { EnrollmentStatus } from '@lib/contracts';
import { Enrollment } from '../src/enrollments/enrollment.schema';
import { inRun, inRunFilter } from '../src/enrollments/usecases/follow-submitted.use-case';
import { enrollmentsOnTestServer } from './enrollments-on-test-server';

// Against the test database server: the follow-up's page query (inRunFilter) reads exactly the enrollments the run
// follows (inRun), so that the server leaves out, after a rules change, every earlier year's ENROLLED enrollment.
const db = enrollmentsOnTestServer('follow_up_query');

const at = new Date('2026-08-01T00:00:00Z');
const STATUSES: EnrollmentStatus[] = ['VALIDATING', 'ACTION_REQUIRED', 'ENROLLED', 'INVITED'];
const PHASES = { invited: {}, proposal: { evaluatedAt: at }, submitted: { evaluatedAt: at, submittedAt: at } };

it.each([
  // No rules change: submitted ones not ENROLLED, of every year.
  ['no rules change', false, ['FY25-VALIDATING-submitted', 'FY28-ACTION_REQUIRED-submitted'], ['FY27-ACTION_REQUIRED-proposal', 'FY25-VALIDATING-invited']],
  // A rules change: also the ENROLLED ones and proposals of the program's year and later, none of an earlier year.
  ['a rules change', true, ['FY25-VALIDATING-submitted', 'FY27-ENROLLED-submitted', 'FY28-INVITED-proposal'], ['FY26-ENROLLED-submitted', 'FY26-INVITED-proposal', 'FY28-INVITED-invited']],
])('after %s, the query reads what the run follows, of every year and phase, and nothing else', async (_, rulesChanged, reads, leaves) => {
  const programId = `prog-${rulesChanged}`;
  const all: Enrollment[] = [];
  for (const fiscalYear of ['FY25', 'FY26', 'FY27', 'FY28'])
    for (const status of STATUSES)
      for (const [phase, fields] of Object.entries(PHASES))
        all.push({ _id: `${programId}-${fiscalYear}-${status}-${phase}`, programId, partnerId: 'p1', locationId: 'L1', fiscalYear, status, ...fields, version: 1, reasons: [], missing: [] } as never);
  await db.model.collection.insertMany(all as never[]);
  const statuses: EnrollmentStatus[] = rulesChanged ? STATUSES : ['VALIDATING', 'ACTION_REQUIRED'];

  const read = await db.repository.ofProgramIn(programId, statuses, 1_000, undefined, inRunFilter(rulesChanged, 'FY27'));

  const followed = all.filter((e) => statuses.includes(e.status) && inRun(e, rulesChanged, 'FY27')).map((e) => e._id);
  expect(read.map((e) => e._id).sort()).toEqual(followed.sort());
  // What the case is about, named: read, or left out though of a status the query asks for.
  const ids = read.map((e) => e._id);
  expect(ids).toEqual(expect.arrayContaining(reads.map((id) => `${programId}-${id}`)));
  for (const left of leaves) expect(statuses).toContain(all.find((e) => e._id === `${programId}-${left}`)!.status);
  expect(ids.filter((id) => leaves.some((left) => id === `${programId}-${left}`))).toEqual([]);
});
