import { EligibilityDetermined } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { enrollmentId } from '../../common/ids';
import { EnrollmentEvents } from '../enrollment-events';
import { BEFORE_ENROLLED } from '../enrollment-rules';
import { EnrollmentsRepository } from '../enrollments.repository';

const ATTEMPTS = 8;

/**
 * Losing eligibility before the enrollment completes: INVITED, ACTION_REQUIRED or VALIDATING becomes INELIGIBLE,
 * with the decision's reasons (EnrollmentIneligible). An ENROLLED enrollment keeps its fiscal year; whether it
 * continues into the next one is the rollover's question.
 */
@Injectable()
export class MarkIneligible {
  constructor(
    private readonly enrollments: EnrollmentsRepository,
    private readonly events: EnrollmentEvents,
  ) {}

  async execute(decision: EligibilityDetermined): Promise<void> {
    const id = enrollmentId(decision);
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const current = await this.enrollments.findById(id);
      if (!current || current.partnerId !== decision.partnerId || !BEFORE_ENROLLED.includes(current.status)) return;
      const reasons = decision.reasons?.length ? [...decision.reasons] : [`The location is no longer eligible for this program in ${decision.fiscalYear}.`];
      const changes = { status: 'INELIGIBLE' as const, reasons, missing: [] };
      const next = { ...current, ...changes, version: current.version + 1 };
      const event = this.events.event('EnrollmentIneligible', next, { previousStatus: current.status });
      if (await this.enrollments.update(current, changes, [event])) {
        this.events.committed();
        return;
      }
    }
    throw new Error(`enrollment ${id} kept changing while it was marked ineligible`);
  }
}
