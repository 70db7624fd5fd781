import { isISO8601, ValidateBy, ValidationArguments } from 'class-validator';

/**
 * An ISO 8601 date (`2027-12-31`, midnight UTC) or date-time with its offset from UTC (`2027-12-31T10:00:00Z`, `±hh:mm`)
 * that is a real instant. A time without its offset (`2026-01-01T10:00:00`) is read in each reader's time zone: two
 * consumers (or two replicas) in two zones would read different instants. Week and ordinal dates, which a Date cannot
 * read, are refused too, and an instant outside years 0000-9999 in UTC. The one rule of events' `occurredAt` and of the
 * HTTP APIs' dates (DateTime of @lib/platform). A year, or a year and month, alone is refused: not a day.
 */
export function isIsoInstant(given: string): boolean {
  // RFC 3339 (5.6) lets the separator be a lowercase `t` (and `Z` a `z`): read as the capital, which Date reads too.
  const value = /^\d{4}-\d{2}-\d{2}t/.test(given) ? `${given.slice(0, 10)}T${given.slice(11)}` : given;
  // A whole calendar date: a year alone (`2027`) or a year and month (`2027-12`), which isISO8601 takes and Date reads as
  // their first day, is a date cut short (an expiry a month or a year early), not that day.
  if (!CALENDAR_DATE.test(value)) return false;
  if (value.includes('T') && !TIME_OFFSET.test(value)) return false;
  if (!isISO8601(value, { strict: true, strictSeparator: true })) return false;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return false;
  // In UTC too a year of four digits: `9999-12-31T23:00:00-05:00` is in year 10000, which an event writes as
  // `+010000-...` (toISOString), a form this very rule refuses (the event would break its contract: a 500).
  const year = new Date(at).getUTCFullYear();
  return year >= 0 && year <= 9999;
}

const TIME_OFFSET = /(?:Z|[+-]\d{2}:?\d{2})$/i;
const CALENDAR_DATE = /^\d{4}-\d{2}-\d{2}(?:T|$)/;

/** The validator's name: the AsyncAPI document describes the fields it checks (asyncapi.ts). */
export const IS_ISO_INSTANT = 'isIsoInstant';

/**
 * An event field holding an instant (isIsoInstant), checked as events are read: a malformed one is dead-lettered with
 * its reason rather than read by consumers as an Invalid Date (a tax profile's expiry that never comes).
 */
export function IsIsoInstant(): PropertyDecorator {
  return ValidateBy({
    name: IS_ISO_INSTANT,
    validator: {
      validate: (value) => typeof value === 'string' && isIsoInstant(value),
      defaultMessage: (args?: ValidationArguments) => `${args?.property ?? 'the value'} must be an ISO-8601 date, or date and time with its offset`,
    },
  });
}
