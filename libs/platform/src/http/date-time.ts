import { isIsoInstant } from '@lib/contracts';
import { ValidateBy } from 'class-validator';

/**
 * An ISO 8601 date or date-time (`2027-12-31`, `2027-12-31T10:00:00Z`) that is a real instant (isIsoInstant, the rule
 * of events' `occurredAt` too). class-validator's `IsDateString` alone also takes forms `new Date()` cannot read (week
 * dates `2027-W05`, ordinal dates `2027-123`, `20271231`, an hour alone), which then failed deep in a use case as a 500
 * (an Invalid Date has no `toISOString`), and a date-time without its offset from UTC, read in each replica's time zone.
 */
export function DateTime(): PropertyDecorator {
  return ValidateBy({
    name: 'isDateTime',
    validator: {
      validate: (value) => typeof value === 'string' && isIsoInstant(value),
      defaultMessage: (args) =>
        `${args?.property ?? 'value'} must be an ISO 8601 date or date-time with its offset from UTC (e.g. 2027-12-31 or 2027-12-31T10:00:00Z)`,
    },
  });
}
