import { EligibilityDetermined } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { ViewsRepository } from '../../views/views.repository';
import { MarkIneligible } from './mark-ineligible.use-case';

/**
 * An eligibility decision for (program, location, fiscal year): kept unless a later one for the same year is
 * (occurredAt); an ineligible decision that is the current one ends an enrollment not yet ENROLLED.
 */
@Injectable()
export class RecordEligibilityDecision {
  constructor(
    private readonly views: ViewsRepository,
    private readonly markIneligible: MarkIneligible,
  ) {}

  async execute(decision: EligibilityDetermined, decidedAt: Date, eventId: string): Promise<void> {
    const current = await this.views.recordDecision(decision, decidedAt, eventId);
    if (current && !decision.eligible) await this.markIneligible.execute(decision);
  }
}
