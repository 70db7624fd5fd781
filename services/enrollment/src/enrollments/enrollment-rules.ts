import {
  decisionFor,
  EnrollmentStatus,
  enrollmentStatusLabel,
  fiscalYearOver,
  MissingPayoutItem,
  MissingPayoutItemReasons,
  MissingPayoutItems,
  PaymentMethod,
  PayoutRules,
  ProfileStatus,
} from '@lib/contracts';
import { servesLocation, YearDecision } from '../views/views.schemas';

/**
 * The year's decision that counts for this partner's enrollment of the location (decisionFor): the kept one when it
 * names the partner (or, kept before decisions recorded their partner, names none); else the partner's own set aside
 * while identity had not told of the location yet (a later one naming another partner was kept then); else none.
 * Enroll, its re-check, an invitation's revocation, the ineligibility sweep and the rollover all read decisions
 * through this.
 */
export function partnersDecision(years: Record<string, YearDecision> | undefined, fiscalYear: string, partnerId: string): YearDecision | undefined {
  const year = years?.[fiscalYear];
  return decisionFor(year, year?.others, partnerId);
}

/** What the rules need to know of a profile (from the profile view). */
export interface ProfileFacts {
  profileId: string;
  partnerId: string;
  status: ProfileStatus;
  revision: number;
  reasons: string[];
  currency?: string;
  /** A method a later payout-profiles added is kept as named: no program's rules here allow it. */
  paymentMethod?: PaymentMethod | (string & {});
  expiresAt?: Date;
  /** When its revision was decided (approved or sent back), as payout-profiles dated the event; absent while pending. */
  decidedAt?: Date;
  name?: string;
  /** Bank profiles: the locations it serves, `['*']`, or null/absent when its events never said (every location). */
  locationIds?: string[] | null;
}

export type NextAction = 'ENROLL' | 'SUBMIT' | 'CONTINUE';

/**
 * Statuses that end an enrollment: nothing follows the profiles or validation any more. DISCONTINUED and EXPIRED for
 * good; INELIGIBLE until the location is eligible again, when Enroll starts it again (or, one only ever invited, an
 * eligible decision makes it INVITED again: ReopenInvitation).
 */
export const TERMINAL: EnrollmentStatus[] = ['INELIGIBLE', 'DISCONTINUED', 'EXPIRED'];

/**
 * What an enrollment whose completion is taken back (it ends INELIGIBLE: a renewal undone, one completed on eligibility
 * that was gone) no longer has: it is not `completed` any more, and Enroll starts it again as new.
 */
export const COMPLETION_FIELDS = ['enrolledAt', 'submittedAt', 'submittedBy', 'validated'] as const;
/** Before ENROLLED: losing eligibility here makes the enrollment INELIGIBLE (unless it was ENROLLED once: `enrolledAt`). */
export const BEFORE_ENROLLED: EnrollmentStatus[] = ['INVITED', 'ACTION_REQUIRED', 'VALIDATING'];
/** Submitted enrollments follow the validation of their profiles in these statuses. */
export const FOLLOWING_VALIDATION: EnrollmentStatus[] = ['VALIDATING', 'ENROLLED', 'ACTION_REQUIRED'];

function expired(expiresAt: Date | undefined, at: Date): boolean {
  return expiresAt !== undefined && new Date(expiresAt).getTime() <= at.getTime();
}

/**
 * What keeps the proposal from meeting the program's payout rules, in the order of MissingPayoutItems.
 *  - `strict: false` (Enroll, Continue, Submit): a profile pending validation is fine, since Submit is what waits for
 *    validation; a rejected one (ACTION_REQUIRED) is NOT_APPROVED. The tax profile must not be expired at `at`
 *    (where the program requires one).
 *  - `strict: true` (continuing into a new fiscal year): both must be APPROVED, the tax profile valid at `at`
 *    (the first day of the new fiscal year; where the program requires one).
 * A tax profile in use counts whether or not the program requires one; a missing one only where it does.
 */
export function payoutGaps(
  rules: PayoutRules,
  bank: ProfileFacts | undefined,
  tax: ProfileFacts | undefined,
  { at, strict }: { at: Date; strict: boolean },
): MissingPayoutItem[] {
  const missing = new Set<MissingPayoutItem>();
  const notApproved = (status: ProfileStatus) => (strict ? status !== 'APPROVED' : status === 'ACTION_REQUIRED');
  if (!bank) {
    missing.add('BANK_PROFILE_MISSING');
  } else {
    if (notApproved(bank.status)) missing.add('BANK_PROFILE_NOT_APPROVED');
    if (!bank.currency || !rules.allowedCurrencies.includes(bank.currency)) missing.add('CURRENCY_NOT_ALLOWED');
    if (!bank.paymentMethod || !(rules.allowedPaymentMethods as readonly string[]).includes(bank.paymentMethod)) missing.add('PAYMENT_METHOD_NOT_ALLOWED');
  }
  if (!tax) {
    if (rules.taxProfileRequired) missing.add('TAX_PROFILE_MISSING');
  } else {
    // Its expiry matters to a program that requires one. Its validation matters to every enrollment using it, also
    // where the program requires none (SPEC 1, Enrollment 4: ENROLLED only once the chosen bank and tax profiles are
    // validated): Enroll proposes the location's tax profile whenever there is one.
    if (rules.taxProfileRequired && expired(tax.expiresAt, at)) missing.add('TAX_PROFILE_EXPIRED');
    if (notApproved(tax.status)) missing.add('TAX_PROFILE_NOT_APPROVED');
  }
  return MissingPayoutItems.filter((code) => missing.has(code));
}

/**
 * The bank profile an enrollment keeps whatever the location's default is: the one its admin chose (`bankChosen`),
 * or the one in use since Submit. Undefined for a proposal of the location's default, which Continue and Submit read
 * again each time.
 */
export function keptBankProfileId(e: { bankChosen?: boolean; submittedAt?: Date | null; bankProfileId?: string }): string | undefined {
  return e.bankChosen || e.submittedAt ? e.bankProfileId : undefined;
}

export function notServingReason(bank: Pick<ProfileFacts, 'profileId' | 'name'> | undefined): string {
  if (!bank) return 'The bank profile chosen earlier no longer serves this location: choose another bank profile.';
  return `The bank profile "${bank.name ?? bank.profileId}" no longer serves this location: choose another bank profile.`;
}

/**
 * Why an enrollment can no longer keep its bank profile (keptBankProfileId): the profile stopped serving the
 * enrollment's location (its `locationIds` were narrowed; only the admins of the locations it still serves may edit
 * it). Null while it serves the location, when the enrollment keeps none, or when `bank` is not that profile (unknown).
 * No MissingPayoutItems code says this (the contract has none for it): the reason alone tells it.
 */
export function bankNoLongerServes(
  e: { locationId: string; bankChosen?: boolean; submittedAt?: Date | null; bankProfileId?: string },
  bank: ProfileFacts | undefined,
): string | null {
  const kept = keptBankProfileId(e);
  if (!kept || !bank || bank.profileId !== kept || servesLocation(bank, e.locationId)) return null;
  return notServingReason(bank);
}

/** Fields a withdrawn bank profile clears: back to the proposal (it is submitted again later); `enrolledAt` stays. */
export const WITHDRAWAL_CLEARS = ['submittedAt', 'submittedBy', 'validated'] as const;

/**
 * The enrollment once its bank profile is withdrawn (bankNoLongerServes): ACTION_REQUIRED with the reason, the choice
 * cleared so that Continue proposes the location's default again, and back to the proposal if it was submitted
 * (WITHDRAWAL_CLEARS). `bankProfileId` stays, only to show which profile it was until Continue proposes another:
 * `bankWithdrawn` says nothing goes on with it (Submit refuses, the rollover does not renew with it).
 */
export function withdrawnBankChoice(reason: string): {
  status: 'ACTION_REQUIRED';
  reasons: string[];
  missing: MissingPayoutItem[];
  bankChosen: false;
  bankWithdrawn: true;
} {
  return { status: 'ACTION_REQUIRED', reasons: [reason], missing: [], bankChosen: false, bankWithdrawn: true };
}

export interface ValidationState {
  status: 'VALIDATING' | 'ENROLLED' | 'ACTION_REQUIRED';
  /** Why ACTION_REQUIRED: a profile was rejected by validation (Rejected) or no longer fits the rules. */
  rejected: boolean;
  reasons: string[];
  missing: MissingPayoutItem[];
}

/**
 * Where a submitted enrollment stands, from the current state of its profiles:
 *  - ACTION_REQUIRED when a profile in use was rejected (with the validator's reasons), or no longer fits the
 *    program (currency, payment method, expired tax profile);
 *  - ENROLLED when every profile in use is APPROVED (its current revision);
 *  - VALIDATING otherwise (a revision waits for validation).
 */
export function validationState(rules: PayoutRules, bank: ProfileFacts | undefined, tax: ProfileFacts | undefined, now: Date): ValidationState {
  // A tax profile in use counts whether or not the program requires one (payoutGaps).
  const rejectedReasons = [
    ...(bank?.status === 'ACTION_REQUIRED' ? withPrefix('Bank profile', bank.reasons) : []),
    ...(tax?.status === 'ACTION_REQUIRED' ? withPrefix('Tax profile', tax.reasons) : []),
  ];
  const gaps = payoutGaps(rules, bank, tax, { at: now, strict: false });
  if (gaps.length > 0) {
    const rejected = gaps.includes('BANK_PROFILE_NOT_APPROVED') || gaps.includes('TAX_PROFILE_NOT_APPROVED');
    return { status: 'ACTION_REQUIRED', rejected, reasons: [...rejectedReasons, ...gaps.filter((g) => !g.endsWith('_NOT_APPROVED')).map(describeMissing)], missing: gaps };
  }
  const approved = bank?.status === 'APPROVED' && (!tax || tax.status === 'APPROVED');
  return { status: approved ? 'ENROLLED' : 'VALIDATING', rejected: false, reasons: [], missing: [] };
}

function withPrefix(what: string, reasons: string[]): string[] {
  return reasons.length ? reasons.map((r) => `${what}: ${r}`) : [`${what}: validation asked for changes.`];
}

/** The reason given for a missing item (shared with the consumers: MissingPayoutItemReasons). */
export function describeMissing(code: string): string {
  return MissingPayoutItemReasons[code as MissingPayoutItem] ?? code;
}

export interface CompleteAt {
  item: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  path: string;
  href: string;
  description: string;
}

/**
 * Where, in the payout-profiles API (the Payment and Tax profile page), each missing item is completed. `bankChosen`:
 * the admin chose the bank profile; `bankSubmitted`: the enrollment keeps the one it was submitted with
 * (keptBankProfileId), whatever the location's default becomes.
 */
export function completeAt(
  missing: string[],
  {
    locationId,
    bankProfileId,
    bankChosen = false,
    bankSubmitted = false,
    baseUrl,
  }: { locationId: string; bankProfileId?: string; bankChosen?: boolean; bankSubmitted?: boolean; baseUrl: string },
): CompleteAt[] {
  const base = baseUrl.replace(/\/+$/, '');
  const location = encodeURIComponent(locationId);
  const bank = bankProfileId ? `/v1/bank-profiles/${encodeURIComponent(bankProfileId)}` : '/v1/bank-profiles';
  const entry = (item: string, method: CompleteAt['method'], path: string, description: string): CompleteAt => ({
    item,
    method,
    path,
    href: `${base}${path}`,
    description,
  });
  return missing.flatMap((item): CompleteAt[] => {
    switch (item) {
      case 'BANK_PROFILE_MISSING':
        return [
          entry(item, 'POST', '/v1/bank-profiles', 'Create a bank profile.'),
          entry(item, 'PUT', `/v1/locations/${location}/default-bank-profile`, "Make it the location's default bank profile (or choose it with bankProfileId when you enroll)."),
        ];
      case 'BANK_PROFILE_NOT_APPROVED':
        // Only an Incentives admin of every location the profile serves may correct it (payout-profiles): one shared
        // with locations this admin does not look after, or serving every location, is not theirs to edit.
        return [
          entry(item, 'PATCH', bank, 'Correct the bank profile as its validation asks; it is validated again (an Incentives admin of every location it serves may).'),
          entry(item, 'GET', '/v1/bank-profiles', 'Or choose another bank profile that serves this location with bankProfileId, or create one (POST /v1/bank-profiles).'),
        ];
      case 'CURRENCY_NOT_ALLOWED':
        // The location's default (not a choice): payout-profiles refuses to change a default's currency (409), so the
        // way out is another default in an allowed currency, or choosing another profile.
        if (bankProfileId && !bankChosen && !bankSubmitted) {
          return [
            entry(item, 'PUT', `/v1/locations/${location}/default-bank-profile`, "Make a bank profile in an allowed currency the location's default (a default's currency cannot change)."),
            entry(item, 'GET', '/v1/bank-profiles', 'Or choose another bank profile with bankProfileId.'),
          ];
        }
        // Submitted with the location's default then: another default would not reach it (it keeps its profile), and
        // the profile's currency is locked while it is any location's default.
        if (bankProfileId && !bankChosen) {
          return [
            entry(item, 'GET', '/v1/bank-profiles', 'Choose a bank profile in an allowed currency with bankProfileId (Continue, then Submit), or create one (POST /v1/bank-profiles).'),
            entry(item, 'PATCH', bank, "Or change this bank profile's currency (refused while it is a location's default)."),
          ];
        }
        return [
          entry(item, 'PATCH', bank, "Change the bank profile's currency (refused while it is a location's default), or choose another bank profile with bankProfileId."),
          entry(item, 'GET', '/v1/bank-profiles', "Your partner's bank profiles."),
        ];
      case 'PAYMENT_METHOD_NOT_ALLOWED':
        return [
          entry(item, 'PATCH', bank, 'Change the bank profile, or choose another bank profile with bankProfileId.'),
          entry(item, 'GET', '/v1/bank-profiles', "Your partner's bank profiles."),
        ];
      case 'TAX_PROFILE_MISSING':
        return [entry(item, 'POST', `/v1/locations/${location}/tax-profile`, "Create the location's tax profile.")];
      case 'TAX_PROFILE_EXPIRED':
      case 'TAX_PROFILE_NOT_APPROVED':
        return [entry(item, 'PATCH', `/v1/locations/${location}/tax-profile`, 'Update the tax profile (forms, expiration date); it is validated again.')];
      default:
        return [];
    }
  });
}

/** The label a viewer sees (enrollmentStatusLabel; started: Enroll has evaluated it, `evaluatedAt`). */
export function statusLabel(e: { status: EnrollmentStatus; evaluatedAt?: Date | null }, viewerIsAdmin: boolean): string {
  return enrollmentStatusLabel(e.status, { started: !!e.evaluatedAt, viewerIsAdmin });
}

/**
 * What the location's Incentives admin does next; null when nothing is theirs to do. Nothing either where that call
 * would be refused: an enrollment continued or ended by the rollover (`rollover`: the next year's is where they act),
 * one whose fiscal year is over and not ENROLLED (the rollover's: Continue and Submit answer 409 `fiscal-year-ended`),
 * one never enrolled in a program not open (`programOpen: false`: Enroll answers 409), and one not submitted while the
 * partner's agreement is not active (`agreementActive: false`: 422). An INELIGIBLE one is Enroll
 * again where Enroll would start it again (`restartable`: its program OPEN and the location eligible for its year, or
 * the program open to every location); Continue on it (`POST /v1/enrollments/{id}/refresh`) where its year is not its
 * program's (`programFiscalYear`: a continuation the rollover made before the program moved on), since Enroll acts on
 * the program's year.
 */
export function nextAction(
  e: { status: EnrollmentStatus; fiscalYear: string; evaluatedAt?: Date; submittedAt?: Date; missing: string[]; rollover?: unknown },
  {
    now,
    programOpen = true,
    restartable = false,
    programFiscalYear,
    agreementActive = true,
  }: { now: Date; programOpen?: boolean; restartable?: boolean; programFiscalYear?: string; agreementActive?: boolean },
): NextAction | null {
  if (e.rollover) return null;
  // The partner's agreement not active: nothing starts or is submitted (422 agreement-inactive), also one submitted
  // before it ended INELIGIBLE (Enroll starts it again); one submitted follows its profiles (Continue on one sent back
  // for action).
  if (!agreementActive && (!e.submittedAt || e.status === 'INELIGIBLE')) return null;
  if (e.status !== 'ENROLLED' && fiscalYearOver(e.fiscalYear, now)) return null;
  if (e.status === 'INELIGIBLE') return restartable ? (programFiscalYear !== undefined && programFiscalYear !== e.fiscalYear ? 'CONTINUE' : 'ENROLL') : null;
  if (TERMINAL.includes(e.status)) return null;
  if (!e.submittedAt) {
    if (!e.evaluatedAt) return programOpen ? 'ENROLL' : null;
    return e.status === 'ACTION_REQUIRED' || e.missing.length > 0 ? 'CONTINUE' : 'SUBMIT';
  }
  return e.status === 'ACTION_REQUIRED' ? 'CONTINUE' : null;
}
