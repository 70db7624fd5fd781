import { ProgramSnapshot } from '@lib/contracts';
import { upsertIfNewer } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { Program } from '../program.schema';

/** Keeps the newest snapshot of each program: duplicates, reordering and replays converge to the same view. */
@Injectable()
export class ApplyProgramSnapshot {
  constructor(@InjectModel(Program.name) private readonly programs: Model<Program>) {}

  async execute(snapshot: ProgramSnapshot): Promise<void> {
    const { programId, name, fiscalYear, requiresEligibility, payoutRules, state, revision, earlierYears } = snapshot;
    const rules = (r: ProgramSnapshot['payoutRules']) => ({
      allowedCurrencies: [...r.allowedCurrencies],
      allowedPaymentMethods: [...r.allowedPaymentMethods],
      taxProfileRequired: r.taxProfileRequired,
    });
    await upsertIfNewer<Program>(this.programs.collection, programId, {
      replaces: (stored) => stored.revision < revision,
      set: {
        name,
        fiscalYear,
        requiresEligibility,
        payoutRules: rules(payoutRules),
        state,
        revision,
        ...(earlierYears?.length && { earlierYears: earlierYears.map((year) => ({ fiscalYear: year.fiscalYear, payoutRules: rules(year.payoutRules) })) }),
      },
    });
  }
}
