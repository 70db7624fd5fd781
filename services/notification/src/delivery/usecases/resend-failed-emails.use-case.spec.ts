import { BackgroundWork, ProblemException } from '@lib/platform';
import { Logger } from '@nestjs/common';
import fs from 'node:fs';
import { DIGEST_TEMPLATE } from '../../messages/message.schema';
import { ResendFailedEmails } from './resend-failed-emails.use-case';

/**
 * The operator's resend writes one audit line per request, also when it is refused or fails part way. The messages
 * collection is faked (pure unit spec); the audit line is read where it goes, standard output (written synchronously).
 */
function resender(writes: Array<(id: string) => number>, { digest = false, gatheredWrite = async () => ({ modifiedCount: 0 }) } = {}) {
  const failed = [{ _id: 'm1', channel: 'EMAIL', status: 'FAILED', ...(digest && { template: DIGEST_TEMPLATE }) }, { _id: 'm2', channel: 'EMAIL', status: 'FAILED' }];
  const collection = {
    find: () => ({ sort: () => ({ limit: () => ({ toArray: async () => failed }) }), toArray: async () => failed }),
    updateOne: async (filter: { _id: string }) => ({ modifiedCount: writes.shift()!(filter._id) }),
    updateMany: gatheredWrite,
    countDocuments: async () => 0,
  };
  const enqueued: string[][] = [];
  const worker = { enqueue: (ids: string[]) => enqueued.push(ids) };
  const work = { run: (_job: string, run: () => Promise<unknown>) => run() } as unknown as BackgroundWork;
  const resend = new ResendFailedEmails({ collection } as never, worker as never, work, { SERVICE_NAME: 'notification', NOTIFY_LEASE_MS: 60_000 });
  return { resend, enqueued };
}

async function auditLines(run: () => Promise<unknown>): Promise<Array<Record<string, unknown>>> {
  const lines: string[] = [];
  const write = jest.spyOn(fs, 'writeSync').mockImplementation(((fd: number, data: string) => {
    if (fd === 1) lines.push(String(data));
    return String(data).length;
  }) as never);
  try {
    await run().catch(() => undefined);
  } finally {
    write.mockRestore();
  }
  return lines.flatMap((line) => line.split('\n').filter(Boolean)).map((line) => JSON.parse(line)).filter((line) => line.audit === true);
}

beforeEach(() => jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined));
afterEach(() => jest.restoreAllMocks());

describe('ResendFailedEmails audit', () => {
  it('names what a request sent again', async () => {
    const { resend } = resender([() => 1, () => 1]);
    const lines = await auditLines(() => resend.execute({ notificationIds: ['m1', 'm2'] }));
    expect(lines).toEqual([expect.objectContaining({ event: 'failed-emails-resent', asked: 2, notificationIds: ['m1', 'm2'], notResent: 0, remaining: 0 })]);
    expect(lines[0]).not.toHaveProperty('failed');
  });

  it('writes a refused request (400) too, with why', async () => {
    const { resend } = resender([]);
    let refused: unknown;
    const lines = await auditLines(() => resend.execute({ notificationIds: ['m1'], failedSince: new Date() }).catch((error) => { refused = error; throw error; }));
    expect(refused).toBeInstanceOf(ProblemException);
    expect(lines).toEqual([
      expect.objectContaining({
        event: 'failed-emails-resent',
        asked: 1,
        notificationIds: [],
        failed: { status: 400, type: 'validation-error', errors: [expect.objectContaining({ field: 'failedSince' })] },
      }),
    ]);
  });

  it('writes a request that failed part way, naming the emails it had sent again (waiting again, enqueued)', async () => {
    const { resend, enqueued } = resender([
      () => 1,
      () => {
        throw Object.assign(new Error('connection reset'), { name: 'MongoNetworkError' });
      },
    ]);
    const lines = await auditLines(() => resend.execute({ notificationIds: ['m1', 'm2'] }));
    expect(lines).toEqual([expect.objectContaining({ event: 'failed-emails-resent', notificationIds: ['m1'], failed: { error: 'MongoNetworkError' } })]);
    expect(lines[0]).not.toHaveProperty('remaining');
    expect(enqueued).toEqual([['m1']]);
  });

  it('names a digest sent again whose gathered emails could not be held for it (it goes again all the same)', async () => {
    const { resend, enqueued } = resender([() => 1], {
      digest: true,
      gatheredWrite: async () => {
        throw Object.assign(new Error('connection reset'), { name: 'MongoNetworkError' });
      },
    });
    const lines = await auditLines(() => resend.execute({ notificationIds: ['m1'] }));
    expect(lines).toEqual([expect.objectContaining({ notificationIds: ['m1'], failed: { error: 'MongoNetworkError' } })]);
    expect(enqueued).toEqual([['m1']]);
  });
});
