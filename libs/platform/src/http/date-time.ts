import { isISO8601, ValidateBy } from 'class-validator';

/** A time of day ends with its offset from UTC (`Z`, `+02:00`, `-0500`). */
const OFFSET = /(?:Z|[+-]\d{2}(?::?\d{2})?)$/i;

/**
 * An ISO 8601 date or date-time (`2027-12-31`, `2027-12-31T10:00:00Z`) that is a real instant. class-validator's
 * `IsDateString` alone also takes forms `new Date()` cannot read (week dates `2027-W05`, ordinal dates `2027-123`,
 * `20271231`, an hour alone), which then failed deep in a use case as a 500 (an Invalid Date has no `toISOString`).
 * A date-time needs its offset from UTC: without one (`2027-12-31T10:00:00`) it is read in each replica's time zone.
 * A date alone is midnight UTC.
 */
export function DateTime(): PropertyDecorator {
  return ValidateBy({
    name: 'isDateTime',
    validator: {
      validate: (value) =>
        typeof value === 'string' &&
        isISO8601(value, { strict: true, strictSeparator: true }) &&
        !Number.isNaN(Date.parse(value)) &&
        (!value.includes('T') || OFFSET.test(value)),
      defaultMessage: (args) =>
        `${args?.property ?? 'value'} must be an ISO 8601 date or date-time with its offset from UTC (e.g. 2027-12-31 or 2027-12-31T10:00:00Z)`,
    },
  });
}
