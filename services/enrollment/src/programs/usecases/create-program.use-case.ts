import { Topics } from '@lib/contracts';
import { EventOutbox, isDuplicateKey, PendingOutboxes } from '@lib/messaging';
import { Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { deterministicId } from '../../common/ids';
import { CreateProgramDto } from '../dto/program.dto';
import { Program } from '../program.schema';
import { programSnapshot } from '../program-rules';

/** Adds a program to the catalog and publishes ProgramCreated (revision 1) in the same write. */
@Injectable()
export class CreateProgram {
  constructor(
    @InjectModel(Program.name) private readonly programs: Model<Program>,
    private readonly outbox: EventOutbox,
  ) {}

  async execute(input: CreateProgramDto): Promise<Program> {
    const now = new Date();
    const program: Program = {
      _id: input.programId ?? randomUUID(),
      name: input.name.trim(),
      fiscalYear: input.fiscalYear,
      requiresEligibility: input.requiresEligibility,
      payoutRules: {
        allowedCurrencies: [...input.payoutRules.allowedCurrencies],
        allowedPaymentMethods: [...input.payoutRules.allowedPaymentMethods],
        taxProfileRequired: input.payoutRules.taxProfileRequired,
      },
      state: input.state ?? 'OPEN',
      revision: 1,
      createdAt: now,
      updatedAt: now,
    };
    const event = this.outbox.event(Topics.programs, {
      type: 'ProgramCreated',
      data: { program: programSnapshot(program) },
      key: program._id,
      eventId: deterministicId('program', program._id, '1'),
    });
    try {
      await PendingOutboxes.writing(this.programs, [program._id], () => this.programs.collection.insertOne({ ...program, outbox: [event] } as never));
    } catch (error) {
      if (isDuplicateKey(error)) throw Problems.conflict(`Program ${program._id} exists already.`);
      throw error;
    }
    this.outbox.committed();
    return program;
  }
}
