/** Vocabulary shared by every service and every event. */

export const Roles = ['GLOBAL_ADMIN', 'ACCOUNT_ADMIN', 'INCENTIVES_ADMIN', 'INCENTIVES_USER'] as const;
export type Role = (typeof Roles)[number];
export const COMPANY_ROLES: Role[] = ['GLOBAL_ADMIN', 'ACCOUNT_ADMIN'];
export const INCENTIVE_ROLES: Role[] = ['INCENTIVES_ADMIN', 'INCENTIVES_USER'];
/** A role granted on every location of the partner, present and future. */
export const ALL_LOCATIONS = '*';

/** Roles as identity grants them and every service's view keeps them: a role on a list of locations, or on `*`. */
type Grants = ReadonlyArray<{ role: string; locationIds: readonly string[] }>;

/** Whether the grants give `role` on the location, directly or through `*`. */
export function grantsRole(grants: Grants, role: Role, locationId: string): boolean {
  return grants.some((grant) => grant.role === role && (grant.locationIds.includes(ALL_LOCATIONS) || grant.locationIds.includes(locationId)));
}

/** `ROLE:locationId` (or `ROLE:*`) for each grant: what role-holder queries match with `$in`. */
export function grantKeys(grants: Grants): string[] {
  return grants.flatMap((grant) => grant.locationIds.map((locationId) => `${grant.role}:${locationId}`));
}

export const ProgramStates = ['OPEN', 'CLOSED', 'DISCONTINUED'] as const;
export type ProgramState = (typeof ProgramStates)[number];

export const PaymentMethods = ['ELECTRONIC_BANK_TRANSFER', 'WIRE_TRANSFER', 'CHECK'] as const;
export type PaymentMethod = (typeof PaymentMethods)[number];

export const EnrollmentStatuses = [
  'INVITED',
  'ACTION_REQUIRED',
  'VALIDATING',
  'ENROLLED',
  'INELIGIBLE',
  'DISCONTINUED',
  'EXPIRED',
] as const;
export type EnrollmentStatus = (typeof EnrollmentStatuses)[number];

/** The Partner Center wording of each status. */
export const EnrollmentStatusLabels: Record<EnrollmentStatus, string> = {
  INVITED: 'Invited',
  ACTION_REQUIRED: 'Action required',
  VALIDATING: 'Validating enrollment',
  ENROLLED: 'Enrolled',
  INELIGIBLE: 'Inactive / Ineligible',
  DISCONTINUED: 'Discontinued',
  EXPIRED: 'Expired',
};

export const ProfileStatuses = ['PENDING_VALIDATION', 'APPROVED', 'ACTION_REQUIRED'] as const;
export type ProfileStatus = (typeof ProfileStatuses)[number];
export const ProfileStatusLabels: Record<ProfileStatus, string> = {
  PENDING_VALIDATION: 'Pending Microsoft validation',
  APPROVED: 'Approved',
  ACTION_REQUIRED: 'Action required',
};

export const ProfileKinds = ['BANK', 'TAX'] as const;
export type ProfileKind = (typeof ProfileKinds)[number];

export const ValidationOutcomes = ['APPROVED', 'ACTION_REQUIRED'] as const;
export type ValidationOutcome = (typeof ValidationOutcomes)[number];

/** Fiscal years are named FYnn and run July 1 to June 30: FY27 = 2026-07-01 .. 2027-06-30. */
export const FISCAL_YEAR_PATTERN = /^FY\d{2}$/;

/**
 * What can keep a location from meeting a program's payout rules. The payout-profiles readiness answer and the
 * enrollment service name missing items with these codes, so both speak the same language.
 */
export const MissingPayoutItems = [
  'PROGRAM_UNKNOWN',
  'BANK_PROFILE_MISSING',
  'BANK_PROFILE_NOT_APPROVED',
  'CURRENCY_NOT_ALLOWED',
  'PAYMENT_METHOD_NOT_ALLOWED',
  'TAX_PROFILE_MISSING',
  'TAX_PROFILE_EXPIRED',
  'TAX_PROFILE_NOT_APPROVED',
] as const;
export type MissingPayoutItem = (typeof MissingPayoutItems)[number];

/**
 * Whether an eligibility decision replaces the one kept for the same (program, location, fiscal year): a later one
 * (occurredAt), or, once identity has made the location known as the incoming decision's partner's (`ownerConfirmed`),
 * one kept naming another partner while the location was not known yet, whatever their times: a wrong decision would
 * otherwise decide the location for its own partner. A kept decision that recorded no partner is judged by time alone.
 */
export function replacesDecision(
  kept: { decidedAt: Date; partnerId?: string },
  incoming: { decidedAt: Date; partnerId: string },
  ownerConfirmed: boolean,
): boolean {
  const wrongPartner = ownerConfirmed && kept.partnerId !== undefined && kept.partnerId !== incoming.partnerId;
  return wrongPartner || +kept.decidedAt <= +incoming.decidedAt;
}
