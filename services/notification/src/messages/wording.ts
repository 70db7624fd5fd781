import { describesMissing, EnrollmentStatus, EnrollmentStatusLabels, MissingPayoutItem, MissingPayoutItemReasons } from '@lib/contracts';

/** How each missing-item code of the payout rules reads in a message. Unknown codes are shown as they are. */
export const MissingItemWording: Record<MissingPayoutItem, string> = {
  PROGRAM_UNKNOWN: 'The program details are not available yet',
  BANK_PROFILE_MISSING: 'A bank profile for the enrollment',
  BANK_PROFILE_NOT_APPROVED: 'An approved bank profile (the chosen one is not validated yet or needs action)',
  CURRENCY_NOT_ALLOWED: 'A bank profile in a currency the program pays in',
  PAYMENT_METHOD_NOT_ALLOWED: 'A bank profile with a payment method the program allows',
  TAX_PROFILE_MISSING: 'A tax profile for the location',
  TAX_PROFILE_EXPIRED: 'A tax profile whose tax forms have not expired',
  TAX_PROFILE_NOT_APPROVED: 'An approved tax profile (it is not validated yet or needs action)',
};

/**
 * The missing items in a message's words. The rollover's expired tax profile is dated in the enrollment's reasons ("The
 * tax profile expires on or before July 1, 2027, the first day of FY28."): the item keeps that date, which tells what
 * the new forms must cover (the reason itself is left out of the details: reasonsBeyondMissing).
 */
export function missingItemsWording(codes: string[], reasons: string[] = []): string[] {
  const dated = reasons.find((reason) => reason !== MissingPayoutItemReasons.TAX_PROFILE_EXPIRED && describesMissing(reason, 'TAX_PROFILE_EXPIRED'));
  return codes.map((code) => {
    const wording = MissingItemWording[code as MissingPayoutItem] ?? code;
    return code === 'TAX_PROFILE_EXPIRED' && dated ? `${wording}: ${dated.charAt(0).toLowerCase()}${dated.slice(1)}` : wording;
  });
}

/** An enrollment's reasons without those that say no more than a listed missing item (describesMissing). */
export function reasonsBeyondMissing(reasons: string[], missing: string[]): string[] {
  return reasons.filter((reason) => !missing.some((code) => describesMissing(reason, code as MissingPayoutItem)));
}

/** An enrollment status as Partner Center words it to its admins; an unknown one as it is. */
export function enrollmentStatusWording(status: string): string {
  return EnrollmentStatusLabels[status as EnrollmentStatus] ?? status;
}

/** "June 30, 2027" for an ISO date or date-time; the input itself when it is not a date. */
export function longDate(value: string): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'long', day: 'numeric', timeZone: 'UTC' }).format(date);
}

/** "today", "tomorrow", "in 12 days": when an expiry still to come falls, by date (`calendarDays` from today's date to its date). */
export function daysLeftLabel(calendarDays: number): string {
  if (calendarDays <= 0) return 'today';
  if (calendarDays === 1) return 'tomorrow';
  return `in ${calendarDays} days`;
}
