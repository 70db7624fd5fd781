import { Topics } from '@lib/contracts';
import { EventOutbox, PendingOutboxes, pushOutbox } from '@lib/messaging';
import { Clock, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { deterministicId } from '../../common/ids';
import { UpdateProgramDto } from '../dto/program.dto';
import { Program } from '../program.schema';
import { becomesEligibilityRequired, fiscalYearLeapProblem, fiscalYearMovedBack, programChanges, programSnapshot } from '../program-rules';

/**
 * Changes a program (If-Match on its revision). A real change is a new revision, published as ProgramUpdated with
 * the whole snapshot, in the same write. DISCONTINUED is final, and the fiscal year only moves forward
 * (fiscalYearMovedBack). What a discontinuation does to enrollments happens when this service consumes its own
 * ProgramUpdated (so it is done after a crash too, retried as any consumed event is: without limit through an outage, else up to KAFKA_MAX_ATTEMPTS, then dead-lettered for an operator to publish again). So does what an open
 * program now requiring eligibility does to them (the unfinished ones of locations decided not eligible end
 * INELIGIBLE): the same write notes that revision as `eligibilityRequiredSince`, which names the event that does it.
 */
@Injectable()
export class UpdateProgram {
  constructor(
    @InjectModel(Program.name) private readonly programs: Model<Program>,
    private readonly outbox: EventOutbox,
    private readonly clock: Clock,
  ) {}

  async execute(programId: string, expectedRevision: number, input: UpdateProgramDto): Promise<Program> {
    const current = await this.programs.findById(programId).lean<Program>();
    if (!current) throw Problems.notFound(`Program ${programId}`);
    if (current.revision !== expectedRevision) throw Problems.preconditionFailed(current.revision);
    if (Object.values(input).every((value) => value === undefined)) {
      throw Problems.field('body', 'must change at least one of name, fiscalYear, requiresEligibility, payoutRules, state');
    }
    const changes = programChanges(current, input);
    if (Object.keys(changes).length === 0) return current;
    if (current.state === 'DISCONTINUED') throw Problems.conflict(`Program ${programId} is discontinued: it cannot change any more.`);
    const movedBack = fiscalYearMovedBack(current, changes);
    if (movedBack) throw Problems.conflict(movedBack, { fiscalYear: current.fiscalYear, requestedFiscalYear: changes.fiscalYear });
    const leap = fiscalYearLeapProblem(current, changes, this.clock.now());
    if (leap) throw Problems.field('fiscalYear', leap);

    const revision = current.revision + 1;
    const marks: Partial<Program> = {
      ...(becomesEligibilityRequired(current, changes) && { eligibilityRequiredSince: revision }),
      ...(changes.payoutRules && { payoutRulesChangedAt: revision }),
      ...(changes.name !== undefined && { nameChangedAt: revision, nameChangedTo: changes.name }),
      // Moved on: the year it leaves keeps the rules it had (its enrollments are judged by them: payoutRulesFor).
      ...(changes.fiscalYear !== undefined && { earlierYears: [...(current.earlierYears ?? []), { fiscalYear: current.fiscalYear, payoutRules: current.payoutRules, leftAt: revision }] }),
    };
    const next: Program = { ...current, ...changes, ...marks, revision, updatedAt: new Date() };
    const event = this.outbox.event(Topics.programs, {
      type: 'ProgramUpdated',
      data: { program: programSnapshot(next) },
      key: programId,
      eventId: deterministicId('program', programId, String(next.revision)),
    });
    const { matchedCount } = await PendingOutboxes.writing(this.programs, [programId], () =>
      this.programs.collection.updateOne(
        { _id: programId, revision: current.revision } as never,
        { $set: { ...changes, ...marks, revision: next.revision, updatedAt: next.updatedAt }, $push: pushOutbox([event]) } as never,
      ),
    );
    if (matchedCount === 0) {
      const latest = await this.programs.findById(programId).lean<Program>();
      throw Problems.preconditionFailed(latest?.revision ?? current.revision);
    }
    this.outbox.committed();
    return next;
  }
}
