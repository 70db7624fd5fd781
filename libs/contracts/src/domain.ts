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

/**
 * The Partner Center overview wording for everyone but the location's Incentives admin while an enrollment is in
 * progress (validation or the admin's action pending): "Enrolling".
 */
export const ENROLLING_LABEL = 'Enrolling';
export const ENROLLING_STATUSES: readonly EnrollmentStatus[] = ['ACTION_REQUIRED', 'VALIDATING'];

/**
 * The label a viewer sees, the same in the enrollment service's answers and the invitations overview: the location's
 * Incentives admin sees each status; everyone else who may look (Incentives users, company admins) "Enrolling" while
 * validation or the admin's action is pending, and once Enroll has started it (`started`) while it waits for the
 * admin's Submit (INVITED): only one an admin never acted on is "Invited".
 */
export function enrollmentStatusLabel(status: EnrollmentStatus, { started, viewerIsAdmin }: { started: boolean; viewerIsAdmin: boolean }): string {
  const inProgress = ENROLLING_STATUSES.includes(status) || (status === 'INVITED' && started);
  return !viewerIsAdmin && inProgress ? ENROLLING_LABEL : EnrollmentStatusLabels[status];
}

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
 * Partner, location and program ids (a location's PartnerID; a UUID when the platform makes one): what an operator or
 * a partner system may use as an identifier, so the only ids the outside systems' events can name. Not `*`.
 */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ID_MESSAGE = 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit';

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
 * The reason the enrollment service gives for each missing item, in an enrollment's `reasons` (next to its `missing`
 * codes). Shared so that a consumer listing the missing items in its own words (notification's emails) can tell these
 * reasons, which say the same, from the others (the validator's, a bank profile that stopped serving the location).
 */
export const MissingPayoutItemReasons: Record<MissingPayoutItem, string> = {
  PROGRAM_UNKNOWN: 'The program is not known.',
  BANK_PROFILE_MISSING: 'No bank profile: the location has no default bank profile and none was chosen.',
  BANK_PROFILE_NOT_APPROVED: 'The bank profile is not approved.',
  CURRENCY_NOT_ALLOWED: "The bank profile's currency is not allowed by the program.",
  PAYMENT_METHOD_NOT_ALLOWED: "The bank profile's payment method is not allowed by the program.",
  TAX_PROFILE_MISSING: 'The location has no tax profile.',
  TAX_PROFILE_EXPIRED: 'The tax profile has expired.',
  TAX_PROFILE_NOT_APPROVED: 'The tax profile is not approved.',
};

/**
 * The fiscal-year rollover's reason for a tax profile that is expired on the first day of the new year (`firstDay`,
 * `fiscalYear`): what TAX_PROFILE_EXPIRED means there, with its date.
 */
export function taxProfileExpiredBy(firstDay: Date, fiscalYear: string): string {
  const date = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'long', day: 'numeric', timeZone: 'UTC' }).format(firstDay);
  return `The tax profile expires on or before ${date}, the first day of ${fiscalYear}.`;
}

/** taxProfileExpiredBy's reasons, and those it gave before (`is expired on 2027-07-01`, `expires before`). */
const TAX_EXPIRED_BY = /^The tax profile (expires (on or )?before|is expired on) .+, the first day of FY\d{2}\.$/;

/**
 * Whether `reason` says no more than that `code` is missing (MissingPayoutItemReasons, or the rollover's dated
 * TAX_PROFILE_EXPIRED): a consumer listing the missing items once can leave it out.
 */
export function describesMissing(reason: string, code: MissingPayoutItem): boolean {
  return reason === MissingPayoutItemReasons[code] || (code === 'TAX_PROFILE_EXPIRED' && TAX_EXPIRED_BY.test(reason));
}

/** Where a consumed event was read: its partition and offset (Kafka's order of one key's events). */
export interface LogPosition {
  partition: number;
  offset: string;
}

/**
 * An eligibility decision as views keep it: when it was made, the partner it named (absent on old ones), and where it
 * was read (absent on those kept before it was recorded).
 */
export interface PartnerDecision {
  decidedAt: Date;
  partnerId?: string;
  position?: LogPosition;
}

/**
 * Whether decision `a` comes after `b` (none yet: it does): by occurredAt, and at the same instant by where they were
 * read, so that one redelivered after a crash does not overtake the decision that followed it at the same time (its
 * effects, emails among them, would run again, then the other's). The same decision again comes after itself: a
 * redelivery finds it current and runs what it missed. Positions on different partitions (the topic repartitioned),
 * or not recorded, do not tell: the one arriving comes after.
 */
export function laterDecision(a: PartnerDecision, b: PartnerDecision | undefined): boolean {
  if (!b) return true;
  if (+a.decidedAt !== +b.decidedAt) return +a.decidedAt > +b.decidedAt;
  const [x, y] = [a.position, b.position];
  return !x || !y || x.partition !== y.partition || BigInt(x.offset) >= BigInt(y.offset);
}

/**
 * Whether `decision` is another decision than `named` (the one an event names as having ended something:
 * EnrollmentIneligible.decision, InvitationRevoked.decision), made after it. At the same instant, the one read later
 * on the topic, where both positions are known on one partition: the service that named it had read it after the
 * other, which is then no later (counted later, an eligible decision a view holds would invite again, and the named
 * one, still on its way to the view, revoke at once). Where positions do not tell, one made at the same instant counts
 * as later. One whose time is unknown (kept before times were) counts as later.
 */
export function laterThanNamed(
  decision: { eventId?: string; decidedAt?: Date | string; position?: LogPosition | null },
  named: { eventId: string; decidedAt: Date | string; position?: LogPosition | null },
): boolean {
  if (decision.eventId === named.eventId) return false;
  if (decision.decidedAt === undefined) return true;
  const [a, b] = [+new Date(decision.decidedAt), +new Date(named.decidedAt)];
  if (a !== b) return a > b;
  const [x, y] = [decision.position, named.position];
  return !x || !y || x.partition !== y.partition || BigInt(x.offset) > BigInt(y.offset);
}

/**
 * The eligibility decisions a view keeps for one (program, location, fiscal year): `kept`, the one that counts, and,
 * while identity has not made the location known, `others`: the latest decision of each other partner that named it,
 * set aside rather than lost (at most `MAX_OTHER_PARTNERS`, the newest).
 */
export interface KeptDecisions<D extends PartnerDecision> {
  kept: D;
  others: D[];
}

export const MAX_OTHER_PARTNERS = 5;

/**
 * What a view keeps after an incoming decision, or null when it keeps what it has.
 *  - The same partner's decisions (or a kept one that recorded no partner): the later one (laterDecision) wins.
 *  - Location not known yet (`ownerConfirmed` false): a decision naming another partner cannot be told wrong, so the
 *    later one is kept and the other partner's goes to `others` (each partner's latest), where readers that know the
 *    partner find it (`decisionFor`). A wrong decision published after the owner's no longer loses the owner's.
 *  - Location known as the incoming decision's partner's (`ownerConfirmed`): that partner's latest decision is kept
 *    (this one, or its own set aside in `others` if later), whatever the time of one kept naming another partner, and
 *    the others are dropped: a wrong decision would otherwise decide the location for its own partner.
 */
export function keepDecision<D extends PartnerDecision>(
  stored: KeptDecisions<D> | undefined,
  incoming: D & { partnerId: string },
  ownerConfirmed: boolean,
): KeptDecisions<D> | null {
  if (!stored) return { kept: incoming, others: [] };
  const { kept, others } = stored;
  const own = others.find((d) => d.partnerId === incoming.partnerId);
  const samePartner = kept.partnerId === undefined || kept.partnerId === incoming.partnerId;
  if (ownerConfirmed) {
    if (samePartner) return laterDecision(incoming, kept) ? { kept: incoming, others: [] } : others.length ? { kept, others: [] } : null;
    return { kept: own && !laterDecision(incoming, own) ? own : incoming, others: [] };
  }
  if (samePartner) return laterDecision(incoming, kept) ? { kept: incoming, others } : null;
  if (laterDecision(incoming, kept)) {
    const setAside = [kept, ...others.filter((d) => d.partnerId !== kept.partnerId && d.partnerId !== incoming.partnerId)];
    return { kept: incoming, others: newest(setAside) };
  }
  if (!laterDecision(incoming, own)) return null;
  return { kept, others: newest([incoming, ...others.filter((d) => d.partnerId !== incoming.partnerId)]) };
}

function newest<D extends PartnerDecision>(decisions: D[]): D[] {
  return [...decisions].sort((a, b) => +b.decidedAt - +a.decidedAt).slice(0, MAX_OTHER_PARTNERS);
}

/**
 * The decision that counts for a partner's enrollment or invitation: the kept one when it names that partner (or
 * recorded none), else that partner's set aside while the location was not known; undefined when there is none.
 */
export function decisionFor<D extends PartnerDecision>(kept: D | undefined, others: D[] | undefined, partnerId: string): D | undefined {
  if (!kept) return undefined;
  if (kept.partnerId === undefined || kept.partnerId === partnerId) return kept;
  return others?.find((d) => d.partnerId === partnerId);
}
