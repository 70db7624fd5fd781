import { fiscalYearRange, nextFiscalYear } from '@lib/contracts';
import { ProblemException } from '@lib/platform';
import { HttpStatus } from '@nestjs/common';
import { Program } from '../programs/program.schema';
import { Enrollment } from './enrollment.schema';

/**
 * Once its fiscal year is over, an enrollment of that year is the rollover's to decide (continued into the next
 * year, or expired): Enroll does not start one, and Continue, Submit and another bank profile no longer move one
 * that is not ENROLLED. Refused with 409 `fiscal-year-ended`; nothing changes. Before a year starts (a program
 * moved to the next year early) enrolling is allowed.
 */
// (Whether a year is over: fiscalYearOver in @lib/contracts, by the service's Clock.)

/** Enroll would start an enrollment of the program's year, which is over: the program has not moved on yet. */
export function programYearEnded(program: Program): ProblemException {
  const next = nextFiscalYear(program.fiscalYear);
  return problem(
    `Program ${program._id} is still in ${program.fiscalYear}, which ended on ${lastDay(program.fiscalYear)}; ` +
      `enrollments for ${next} open when the program moves to ${next}.`,
    program.fiscalYear,
  );
}

/** Continue, Submit or another bank profile (or a start) on an enrollment of an ended year that is not ENROLLED. */
export function enrollmentYearEnded(enrollment: Enrollment, refused: 'started' | 'continued' | 'submitted'): ProblemException {
  return problem(
    `This enrollment is for ${enrollment.fiscalYear}, which ended on ${lastDay(enrollment.fiscalYear)}; it can no longer be ${refused}: ` +
      'the rollover continues or expires it.',
    enrollment.fiscalYear,
    { enrollmentStatus: enrollment.status },
  );
}

/** The renewal reminders of a year that is over: what they warn of has happened (the rollover decides it). */
export function remindersYearEnded(fiscalYear: string): ProblemException {
  return problem(
    `${fiscalYear} ended on ${lastDay(fiscalYear)}: its renewal reminders can no longer be sent (the rollover continues or expires its enrollments).`,
    fiscalYear,
  );
}

/** Reminders of a fiscal year that has not begun (an operator naming the next year): 409, nothing sent. */
export function remindersYearNotStarted(fiscalYear: string, starts: Date): ProblemException {
  return new ProblemException(
    HttpStatus.CONFLICT,
    'fiscal-year-not-started',
    'Fiscal year not started',
    `${fiscalYear} begins on ${starts.toISOString().slice(0, 10)}: its renewal reminders are sent before it ends, not before it begins (each enrollment is reminded once a year: one sent now would stand for the real one).`,
    { fiscalYear },
  );
}

/** 409 for renewal reminders asked for before their days (RENEWAL_REMINDER_DAYS before the year's end); Retry-After: until then. */
export function remindersNotDue(fiscalYear: string, opens: Date, now: Date): ProblemException {
  return new ProblemException(
    HttpStatus.CONFLICT,
    'reminders-not-due',
    'Renewal reminders not due',
    `The renewal reminders of ${fiscalYear} are sent from ${opens.toISOString().slice(0, 10)} (RENEWAL_REMINDER_DAYS before it ends): each enrollment is reminded once of what it tells, so one sent now would stand for the one due then.`,
    { fiscalYear, remindersFrom: opens.toISOString() },
  ).retryAfter(Math.max(1, Math.ceil((opens.getTime() - now.getTime()) / 1000)));
}

function problem(detail: string, fiscalYear: string, extensions: Record<string, unknown> = {}): ProblemException {
  return new ProblemException(HttpStatus.CONFLICT, 'fiscal-year-ended', 'Fiscal year ended', detail, {
    ...extensions,
    fiscalYear,
    fiscalYearEndedAt: fiscalYearRange(fiscalYear).end.toISOString(),
  });
}

/** The last day of the year as people write it (FY27: 2027-06-30); the range's end is the next year's first instant. */
function lastDay(fiscalYear: string): string {
  return new Date(fiscalYearRange(fiscalYear).end.getTime() - 1).toISOString().slice(0, 10);
}
