import type { Clock } from '@lib/platform';
import { EventOutbox } from '@lib/messaging';
import { Model } from 'mongoose';
import { Program } from '../program.schema';
import { UpdateProgram } from './update-program.use-case';

const stored = (over: Partial<Program> = {}): Program => ({
  _id: 'p1',
  name: 'Growth',
  fiscalYear: 'FY27',
  requiresEligibility: false,
  payoutRules: { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: true },
  state: 'OPEN',
  revision: 2,
  createdAt: new Date('2026-07-01T00:00:00Z'),
  updatedAt: new Date('2026-07-01T00:00:00Z'),
  ...over,
});

/** The program model as UpdateProgram uses it: one read by id, one guarded updateOne (recorded). */
function setUp(current: Program) {
  const updates: Array<{ filter: unknown; update: { $set: Record<string, unknown> } }> = [];
  const programs = {
    findById: () => ({ lean: async () => current }),
    db: { name: 'test' },
    collection: {
      collectionName: 'programs',
      updateOne: async (filter: unknown, update: { $set: Record<string, unknown> }) => {
        updates.push({ filter, update });
        return { matchedCount: 1 };
      },
    },
  } as unknown as Model<Program>;
  const outbox = { event: (_topic: string, event: unknown) => event, committed: () => undefined } as unknown as EventOutbox;
  return { useCase: new UpdateProgram(programs, outbox, { now: () => new Date() } as Clock), updates };
}

describe('UpdateProgram: the revision that makes an open program require eligibility', () => {
  it('is noted as eligibilityRequiredSince in the same write as the change and its ProgramUpdated', async () => {
    const { useCase, updates } = setUp(stored());
    const next = await useCase.execute('p1', 2, { requiresEligibility: true });
    expect(next).toMatchObject({ requiresEligibility: true, revision: 3, eligibilityRequiredSince: 3 });
    expect(updates).toHaveLength(1);
    expect(updates[0].filter).toEqual({ _id: 'p1', revision: 2 });
    expect(updates[0].update.$set).toMatchObject({ requiresEligibility: true, revision: 3, eligibilityRequiredSince: 3 });
    expect(updates[0].update).toHaveProperty('$push');
  });

  it('is not noted by other changes, nor by a program that required eligibility already (the same value again writes nothing)', async () => {
    const renamed = setUp(stored({ eligibilityRequiredSince: 1, requiresEligibility: true }));
    await renamed.useCase.execute('p1', 2, { name: 'Renamed' });
    expect(renamed.updates[0].update.$set).not.toHaveProperty('eligibilityRequiredSince');

    const opened = setUp(stored({ requiresEligibility: true }));
    await opened.useCase.execute('p1', 2, { requiresEligibility: false });
    expect(opened.updates[0].update.$set).not.toHaveProperty('eligibilityRequiredSince');

    const same = setUp(stored({ requiresEligibility: true, eligibilityRequiredSince: 2 }));
    expect(await same.useCase.execute('p1', 2, { requiresEligibility: true })).toMatchObject({ revision: 2 });
    expect(same.updates).toHaveLength(0);
  });
});
