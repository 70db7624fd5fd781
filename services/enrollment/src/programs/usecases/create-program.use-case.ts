import { Topics } from '@lib/contracts';
import { EventOutbox, isDuplicateKey, PendingOutboxes } from '@lib/messaging';
import { idempotencyKeyReused, IdempotentRequest, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { deterministicId } from '../../common/ids';
import { CreateProgramDto } from '../dto/program.dto';
import { Program } from '../program.schema';
import { programSnapshot } from '../program-rules';

/**
 * Adds a program to the catalog and publishes ProgramCreated (revision 1) in the same write. Under an Idempotency-Key
 * a program without a `programId` gets an id derived from the key, and keeps the request's fingerprint: a retry whose
 * stored answer is gone (a crash after the write, a failure after it, the retention over) gets the program it made,
 * with or without a `programId`, never a second program or a 409.
 */
@Injectable()
export class CreateProgram {
  constructor(
    @InjectModel(Program.name) private readonly programs: Model<Program>,
    private readonly outbox: EventOutbox,
  ) {}

  async execute(input: CreateProgramDto, idempotency?: IdempotentRequest): Promise<Program> {
    const now = new Date();
    const derivedId = input.programId === undefined && idempotency ? deterministicId('program-create', idempotency.key) : undefined;
    const program: Program = {
      _id: input.programId ?? derivedId ?? randomUUID(),
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
      // Named by this revision: a later ProgramUpdated that does not rename it reads none of its enrollments.
      nameChangedAt: 1,
      nameChangedTo: input.name,
      ...(idempotency && { createdByRequest: idempotency.fingerprint }),
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
      if (!isDuplicateKey(error)) throw error;
      const found = idempotency ? await this.programs.findById(program._id, { outbox: 0 }).lean<Program>() : null;
      if (found && found.createdByRequest === idempotency!.fingerprint) return found;
      if (derivedId) throw idempotencyKeyReused();
      throw Problems.conflict(`Program ${program._id} exists already.`, { errors: [{ field: 'programId', message: 'must not be the id of an existing program' }] });
    }
    this.outbox.committed();
    return program;
  }
}
