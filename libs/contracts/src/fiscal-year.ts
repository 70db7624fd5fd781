import { Matches } from 'class-validator';
import { FISCAL_YEAR_PATTERN } from './domain';
import { isBlankText, withoutControls } from './text';

/** A field naming a fiscal year (FY27): refused otherwise with `<field> must look like FY27`, in HTTP bodies, queries and events. */
export function IsFiscalYear(): PropertyDecorator {
  return Matches(FISCAL_YEAR_PATTERN, { message: '$property must look like FY27' });
}

/**
 * Microsoft's fiscal year runs July 1 to June 30; FY27 = 2026-07-01 .. 2027-06-30 (UTC). A name's two digits are the
 * year it ends in this century (FY00 = 2000, FY99 = 2099): the names of 1999 and 2100 are those of 2099 and 2000.
 */
export interface FiscalYearRange {
  name: string;
  start: Date;
  /** Exclusive: the first instant of the next fiscal year. */
  end: Date;
}

export function fiscalYearRange(name: string): FiscalYearRange {
  const match = /^FY(\d{2})$/.exec(name);
  if (!match) throw new Error(`Not a fiscal year: ${name}`);
  const endYear = 2000 + Number(match[1]);
  return { name, start: new Date(Date.UTC(endYear - 1, 6, 1)), end: new Date(Date.UTC(endYear, 6, 1)) };
}

export function fiscalYearOf(date: Date): string {
  const year = date.getUTCFullYear() + (date.getUTCMonth() >= 6 ? 1 : 0);
  return `FY${String(year % 100).padStart(2, '0')}`;
}

/**
 * The instant a location's payout information is judged at for a program of `fiscalYear` (a required tax profile's
 * expiry) when checked at `now`: `now` within the year; the year's first instant before it starts (the rollover judges
 * a new year as it begins, SPEC 1 Enrollment 6); its last instant once it is over (a tax profile covering the year
 * covered it, whatever expires after). Enroll and the payout-profiles readiness answer judge the same way.
 */
export function judgedAt(fiscalYear: string, now: Date): Date {
  const { start, end } = fiscalYearRange(fiscalYear);
  return new Date(Math.min(Math.max(now.getTime(), start.getTime()), end.getTime() - 1));
}

export function nextFiscalYear(name: string): string {
  return fiscalYearOf(fiscalYearRange(name).end);
}

export function previousFiscalYear(name: string): string {
  return fiscalYearOf(new Date(fiscalYearRange(name).start.getTime() - 1));
}

/**
 * Why a location lost eligibility, as an invitation's revocation (InvitationRevoked) and an enrollment's end
 * (EnrollmentIneligible) say it: the decision's reasons, or a general one when the eligibility system gave none.
 */
export function ineligibleReasons(reasons: string[] | undefined, fiscalYear: string): string[] {
  const named = decisionReasons(reasons);
  return named.length ? named : [`The location is no longer eligible for this program in ${fiscalYear}.`];
}

/**
 * At most this many bytes (UTF-8) of a decision's reasons are kept. The contract bounds them in characters (MAX_REASONS
 * of MAX_REASON_LENGTH, up to 150 KB); enrollment's eligibility view keeps every year of a location's decisions in one
 * document, each year with up to MAX_OTHER_PARTNERS set aside: by bytes, a hundred years of them stay under MongoDB's
 * 16 MB, and a publisher sending long reasons for many years cannot make the location's next decision unwritable.
 */
export const MAX_KEPT_REASONS_BYTES = 8_192;

const CUT = '…';

/**
 * A decision's reasons as views keep them: trimmed, without control characters or bidirectional overrides (an
 * eligibility system's text, which partners read in emails and the portal); the blank ones (`""`, `"  "`, a zero-width
 * space) say nothing, and are dropped. In order, within MAX_KEPT_REASONS_BYTES: the first that does not fit is cut at
 * a character (ending in `…`), and the ones after it dropped.
 */
export function decisionReasons(reasons: string[] | undefined): string[] {
  const kept: string[] = [];
  let room = MAX_KEPT_REASONS_BYTES;
  for (const reason of (reasons ?? []).map((text) => withoutControls(text).trim()).filter((text) => !isBlankText(text))) {
    const size = Buffer.byteLength(reason);
    if (size <= room) {
      kept.push(reason);
      room -= size;
      continue;
    }
    const cut = withinBytes(reason, room - Buffer.byteLength(CUT)).trimEnd();
    if (!isBlankText(cut)) kept.push(cut + CUT);
    break;
  }
  return kept;
}

/** The longest start of `text` of at most `bytes` bytes (UTF-8), cut between characters (code points). */
function withinBytes(text: string, bytes: number): string {
  let size = 0;
  let end = 0;
  for (const char of text) {
    size += Buffer.byteLength(char);
    if (size > bytes) break;
    end += char.length;
  }
  return text.slice(0, end);
}

/** Whether fiscal year `a` comes before `b` (FY27 before FY28). */
export function fiscalYearBefore(a: string, b: string): boolean {
  return fiscalYearRange(a).start.getTime() < fiscalYearRange(b).start.getTime();
}

/** Whether the fiscal year is over at `now` (from its exclusive end: FY27 is over from 2027-07-01T00:00:00Z). */
export function fiscalYearOver(name: string, now: Date): boolean {
  return now.getTime() >= fiscalYearRange(name).end.getTime();
}
