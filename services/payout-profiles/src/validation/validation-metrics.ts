import { Injectable } from '@nestjs/common';
import { Counter, register } from 'prom-client';

function counter(name: string, help: string, labelNames: string[]): Counter {
  return (register.getSingleMetric(name) as Counter) ?? new Counter({ name, help, labelNames });
}

/** Validation figures on /metrics (the registry is process-wide, so metrics are created once). */
@Injectable()
export class ValidationMetrics {
  /**
   * A back-office result that disagrees with the decision a revision already has (e.g. ACTION_REQUIRED for a revision
   * an operator APPROVED): recorded, the first decision stands, and someone should look. Alert on any increase, first
   * of all on `decided="APPROVED",outcome="ACTION_REQUIRED"` (a profile approved for payment that the back office
   * says needs action).
   */
  readonly conflicts = counter(
    'payout_validation_conflicts_total',
    'Validation results that contradict the decision their revision already has (recorded, not applied)',
    ['profile_kind', 'decided', 'outcome'],
  );
}
