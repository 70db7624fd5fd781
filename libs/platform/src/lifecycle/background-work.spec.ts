import { HttpStatus } from '@nestjs/common';
import { Counter, Gauge, register } from 'prom-client';
import { ProblemException, Problems } from '../http/problem';
import { BackgroundWork } from './background-work';

async function runsOf(job: string): Promise<Record<string, number>> {
  const { values } = await (register.getSingleMetric('background_job_runs_total') as Counter).get();
  return Object.fromEntries(values.filter(({ labels }) => labels.job_name === job).map(({ labels, value }) => [labels.outcome, value]));
}

async function lastCompleted(job: string): Promise<number | undefined> {
  const { values } = await (register.getSingleMetric('background_job_last_completed_timestamp_seconds') as Gauge).get();
  return values.find(({ labels }) => labels.job_name === job)?.value;
}

describe('BackgroundWork: how each run of a job ended, on /metrics', () => {
  const work = new BackgroundWork();
  const complete = (result: { done: boolean }) => result.done;

  it('counts a run to its end as completed, with its time; one that stopped with work left as incomplete', async () => {
    const before = Date.now() / 1_000;
    await expect(work.run('job-a', async () => ({ done: true }), { complete })).resolves.toEqual({ done: true });
    expect(await runsOf('job-a')).toEqual({ completed: 1 });
    expect(await lastCompleted('job-a')).toBeGreaterThanOrEqual(before);

    await work.run('job-b', async () => ({ done: false }), { complete });
    expect(await runsOf('job-b')).toEqual({ incomplete: 1 });
    expect(await lastCompleted('job-b')).toBeUndefined();
  });

  it('counts a run that did not run (409 busy elsewhere, 503 deferred while behind, another 4xx refused) apart from one that failed, and rethrows each', async () => {
    const busy = Problems.busy('Another instance runs it.');
    // Another 409 is a refusal of the request (the year is over), not another run holding it.
    const yearOver = new ProblemException(HttpStatus.CONFLICT, 'fiscal-year-ended', 'Fiscal year ended', 'FY25 is over.');
    const behind = new ProblemException(HttpStatus.SERVICE_UNAVAILABLE, 'consumer-behind', 'Unavailable', 'Not caught up.');
    const broken = new ProblemException(HttpStatus.INTERNAL_SERVER_ERROR, 'internal', 'Internal', 'Broken.');
    const notFound = new ProblemException(HttpStatus.NOT_FOUND, 'not-found', 'Not Found', 'No such program.');
    for (const error of [busy, behind, notFound, yearOver, broken, new Error('database gone')]) await expect(work.run('job-c', () => Promise.reject(error))).rejects.toBe(error);
    expect(await runsOf('job-c')).toEqual({ busy: 1, deferred: 1, refused: 2, failed: 2 });
    expect(await lastCompleted('job-c')).toBeUndefined();
  });

  it('starts nothing once shutdown began (503), and counts nothing for it', async () => {
    const stopping = new BackgroundWork();
    await stopping.beforeApplicationShutdown();
    await expect(stopping.run('job-d', async () => 1)).rejects.toThrow(ProblemException);
    expect(await runsOf('job-d')).toEqual({});
  });
});
