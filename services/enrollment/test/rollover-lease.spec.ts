import { eventually } from '@lib/testing';
import { RolloverLease } from '../src/rollover/rollover-lease';
import { call, createProgram, Harness, withHarness } from './support';

/** One rollover of a fiscal year at a time across instances: the year's lease in `rollover_leases`. */
let h: Harness;
withHarness((harness) => (h = harness));

const operator = (body: unknown) => call(h, 'POST', '/v1/operator/rollover', { operator: true, body });
const leases = () => h.db.collection<{ _id: string; holder: string; until: Date }>('rollover_leases');
/** The service's /metrics count of rollover runs that ended so (BackgroundWork). */
async function rolloverRuns(outcome: string, job = 'fiscal-year-rollover'): Promise<number> {
  const text = await (await fetch(`${h.service.url}/metrics`)).text();
  return Number(new RegExp(`^background_job_runs_total\\{[^}]*job_name="${job}",outcome="${outcome}"[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}
/** When /metrics says the job last ran to its end (0: never). */
async function lastCompleted(job: string): Promise<number> {
  const text = await (await fetch(`${h.service.url}/metrics`)).text();
  return Number(new RegExp(`^background_job_last_completed_timestamp_seconds\\{[^}]*job_name="${job}"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

describe('the rollover lease', () => {
  it('answers 409 while another instance holds the year, and runs once that lease has expired (and releases its own)', async () => {
    await leases().insertOne({ _id: 'FY19', holder: 'another-instance', until: new Date(Date.now() + 60_000) });
    const [busyBefore, completedBefore] = [await rolloverRuns('busy'), await rolloverRuns('completed')];

    const refused = await operator({ fromFiscalYear: 'FY19' });
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(refused.body).toEqual(expect.objectContaining({ status: 409, type: expect.stringMatching(/\/busy$/), detail: 'A rollover of FY19 is running already (in this or another instance); run it again once it is done.' }));
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(50);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(await leases().findOne({ _id: 'FY19' })).toEqual(expect.objectContaining({ holder: 'another-instance' }));

    // That instance died: its lease runs out, and the next run takes the year.
    await leases().updateOne({ _id: 'FY19' }, { $set: { until: new Date(Date.now() - 1) } });
    const ran = await operator({ fromFiscalYear: 'FY19' });
    expect(ran.status).toBe(200);
    expect(ran.body).toEqual(expect.objectContaining({ fromFiscalYear: 'FY19', toFiscalYear: 'FY20', complete: true }));
    expect(await leases().findOne({ _id: 'FY19' })).toBeNull();
    // On /metrics: one run busy (the lease held elsewhere is not a failure), one completed.
    expect([await rolloverRuns('busy'), await rolloverRuns('completed')]).toEqual([busyBefore + 1, completedBefore + 1]);
    expect(await rolloverRuns('failed')).toBe(0);
  });

  it("counts an operator's run for one program as a job of its own: the year's rollover is not done because one program's was", async () => {
    const program = await createProgram(h, { requiresEligibility: false });
    const [completedBefore, lastBefore] = [await rolloverRuns('completed'), await lastCompleted('fiscal-year-rollover')];

    const ran = await operator({ fromFiscalYear: 'FY16', programId: program.programId });
    expect(ran.status).toBe(200);
    expect(ran.body).toEqual(expect.objectContaining({ programId: program.programId, complete: true }));

    expect(await rolloverRuns('completed', 'fiscal-year-rollover-program')).toBe(1);
    expect(await lastCompleted('fiscal-year-rollover-program')).toBeGreaterThan(0);
    // What FiscalYearRolloverNotCompleted reads is as it was.
    expect([await rolloverRuns('completed'), await lastCompleted('fiscal-year-rollover')]).toEqual([completedBefore, lastBefore]);
  });

  it('lets one of two runs at once through; a holder whose lease was taken over is told to stop and leaves the new lease alone', async () => {
    const lease = h.service.app.get(RolloverLease);
    const outcome = await lease.hold(
      'FY18',
      async (held) => {
        await expect(lease.hold('FY18', async () => 'second')).rejects.toMatchObject({ status: 409 });
        expect(held.held).toBe(true);
        // It stalled past its lease and another instance took the year over: the next renewal finds out.
        await leases().updateOne({ _id: 'FY18' }, { $set: { holder: 'another-instance', until: new Date(Date.now() + 60_000) } });
        await eventually(async () => expect(held.held).toBe(false), 5_000, 50);
        return 'first';
      },
      6_000,
    );
    expect(outcome).toBe('first');
    expect(await leases().findOne({ _id: 'FY18' })).toEqual(expect.objectContaining({ holder: 'another-instance' }));
  });

  it('stops counting on its lease once its last renewal is two thirds of the lease old (this process stalled), before anyone may take it', async () => {
    const lease = h.service.app.get(RolloverLease);
    const leaseMs = 3_000;
    // Before the take is sent: its lease (and the time its holder counts from) starts no earlier than this.
    const beforeTake = Date.now();
    await lease.hold(
      'FY17',
      async (held) => {
        expect(held.held).toBe(true);
        // This process stalls: no timer runs meanwhile (no renewal), until the run stops counting on its lease.
        const giveUpAt = Date.now() + leaseMs;
        while (held.held && Date.now() < giveUpAt);
        const stoppedAt = Date.now();
        expect(held.held).toBe(false);
        // Not before two thirds of the lease ...
        expect(stoppedAt - beforeTake).toBeGreaterThanOrEqual((leaseMs * 2) / 3);
        // ... and with the lease itself still running (a third of it, 1 s, is left): nobody else could take the year
        // yet. Compared with when it stopped, not with when the read came back, which a loaded machine may delay.
        expect((await leases().findOne({ _id: 'FY17' }))?.until.getTime()).toBeGreaterThan(stoppedAt);
      },
      leaseMs,
    );
  });
});
