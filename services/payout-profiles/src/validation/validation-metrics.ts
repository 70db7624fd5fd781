import { Injectable } from '@nestjs/common';
import { counterMetric } from '@lib/messaging';

/** Validation figures on /metrics. */
@Injectable()
export class ValidationMetrics {
  /**
   * A back-office result that disagrees with the decision a revision already has (e.g. ACTION_REQUIRED for a revision
   * an operator APPROVED): recorded, the first decision stands, and someone should look. Alert on any increase, first
   * of all on `decided="APPROVED",outcome="ACTION_REQUIRED"` (a profile approved for payment that the back office
   * says needs action).
   */
  readonly conflicts = counterMetric({
    name: 'payout_validation_conflicts_total',
    help: 'Validation results that contradict the decision their revision already has (recorded, not applied)',
    labelNames: ['profile_kind', 'decided', 'outcome'],
  });
}
