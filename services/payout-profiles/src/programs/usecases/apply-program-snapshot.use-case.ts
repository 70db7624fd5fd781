import { ProgramSnapshot } from '@lib/contracts';
import { isDuplicateKey } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { Program } from '../program.schema';

/** Keeps the newest snapshot of each program: duplicates, reordering and replays converge to the same view. */
@Injectable()
export class ApplyProgramSnapshot {
  constructor(@InjectModel(Program.name) private readonly programs: Model<Program>) {}

  async execute(snapshot: ProgramSnapshot): Promise<void> {
    const { programId, name, fiscalYear, requiresEligibility, payoutRules, state, revision } = snapshot;
    try {
      await this.programs.updateOne(
        { _id: programId, revision: { $lt: revision } },
        {
          $set: {
            name,
            fiscalYear,
            requiresEligibility,
            payoutRules: {
              allowedCurrencies: [...payoutRules.allowedCurrencies],
              allowedPaymentMethods: [...payoutRules.allowedPaymentMethods],
              taxProfileRequired: payoutRules.taxProfileRequired,
            },
            state,
            revision,
          },
        },
        { upsert: true },
      );
    } catch (error) {
      // The program is stored at this revision or a newer one: the upsert's insert collides, which is the no-op.
      if (!isDuplicateKey(error)) throw error;
    }
  }
}
