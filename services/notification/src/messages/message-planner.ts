import {
  AdminAssignmentRequested,
  ALL_LOCATIONS,
  COMPANY_ROLES,
  EnrollmentDiscontinued,
  EnrollmentEvent,
  EnrollmentRenewalAtRisk,
  enrollmentPageUrl,
  Envelope,
  fiscalYearOver,
  fiscalYearRange,
  grantsRole,
  InvitationIssued,
  NotificationChannel,
  ProfileEvent,
  TaxProfileExpiring,
  Topics,
} from '@lib/contracts';
import { PermanentError } from '@lib/messaging';
import { CONFIG } from '@lib/platform';
import { Inject, Injectable } from '@nestjs/common';
import type { NotificationConfig } from '../config';
import { Addressee, inAudience, RecipientDirectory } from '../recipients/recipient-directory';
import { Audience, EnrollmentStatusRef } from './message.schema';
import { TemplateName } from '../rendering/template-renderer';
import { daysLeftLabel, enrollmentStatusWording, longDate, missingItemsWording, reasonsBeyondMissing } from './wording';

/** What one domain event turns into: one template, its data, and who gets it on which channels. */
export interface MessagePlan {
  template: TemplateName;
  partnerId: string;
  locationId?: string;
  channels: NotificationChannel[];
  recipients: Addressee[];
  /** The role they were chosen for: an email waiting to be sent re-checks it (RecipientDirectory.currentAddress). */
  audience: Audience;
  /** Template data shared by every recipient (`recipientName` is added per recipient). */
  context: Record<string, unknown>;
  /** Where the message points; also the `link` of the template data. */
  link: string;
  /** The invitation the message is about (invitation events): a waiting email is withdrawn when that stops being true. */
  invitationId?: string;
  /** That invitation's version the event tells of (`invitationVersion`; absent in older events). */
  invitationVersion?: number;
  /**
   * That invitation's program and fiscal year, and the program's revision the invitations service decided by (absent in
   * older events): a waiting email is withdrawn once the program closed after that, or moved on.
   */
  invitationOf?: { programId: string; fiscalYear: string; programRevision?: number };
  /**
   * The enrollment status change the message tells of (its id and revision): a waiting email is withdrawn once a
   * later status change of the same enrollment has its own email (DeliverEmail's supersession check). A renewal
   * reminder that the enrollment is not completed carries the revision it was sent at, as `reminder`: withdrawn the
   * same way (it must not arrive after the admin's Submit and "being validated"), it withdraws nothing itself (it tells
   * no change). A reminder that it will not continue carries none: no status change answers it.
   */
  enrollmentStatus?: EnrollmentStatusRef;
  /** The enrollment the message is about (every enrollment message, whether or not a later change withdraws it). */
  enrollmentId?: string;
  /**
   * The profile the message is about, at the revision it tells of (a rejection) or with the expiry it tells of: a
   * waiting email is withdrawn once the profile has a later revision or another expiry (ProfileProgressRepository).
   */
  profile?: { profileId: string; revision?: number; expiresAt?: Date };
  /**
   * Not sent from this instant on: its fiscal year's end, after which what it asks is too late (a renewal reminder;
   * an invitation or an admin-needed message: Enroll refuses a year that is over); a tax profile's expiry, after which
   * "it expires on" is not true.
   */
  sendBefore?: Date;
  /**
   * Recipients chosen (at least partly) by role from the recipient view, which may be a view behind the event: the
   * event is planned again once the identity events published before it are handled (CreateMessages). Absent
   * when the event names them (invitations: trusted as named), unless the view did not know its location (named by
   * its bare id: its name is looked up again).
   */
  fromView?: true;
  /** Template data that depends on the recipient (added to `context` for each, like `recipientName`). */
  recipientContext?: (recipient: Addressee) => Record<string, unknown>;
}

const BOTH: NotificationChannel[] = ['EMAIL', 'INBOX'];

/** Missing items a submitted enrollment may have to answer by choosing another bank profile. */
const BANK_CHOICE_ITEMS: string[] = ['CURRENCY_NOT_ALLOWED', 'PAYMENT_METHOD_NOT_ALLOWED'];

/** Statuses only an enrollment its admins acted on (or were told continues) reaches. */
const PAST_INVITED: string[] = ['ENROLLED', 'VALIDATING', 'ACTION_REQUIRED'];
/** Statuses that leave the enrollment to complete: their change does not withdraw a reminder that it is not completed. */
const STILL_TO_COMPLETE: string[] = ['INVITED', 'ACTION_REQUIRED'];

/**
 * Whether the enrollment that ended was more than invited: started (an admin selected Enroll, or the rollover made it),
 * completed, or out of a status only those reach (an event of a producer predating `started`). One only invited that
 * ends (INELIGIBLE, or EXPIRED with its year) tells nobody: the invitation is withdrawn or the new year's comes.
 */
function actedOn(data: EnrollmentEvent): boolean {
  return data.started === true || data.completed === true || PAST_INVITED.includes(data.previousStatus ?? 'INVITED');
}

/** The Incentives admins of these locations (of any location of the partner without). */
const incentivesAdminsOf = (locationIds?: string[]): Audience => ({ roles: ['INCENTIVES_ADMIN'], ...(locationIds && { locationIds }) });

const ENROLLMENT_TEMPLATES: Record<string, TemplateName> = {
  EnrollmentActionRequired: 'enrollment-action-required',
  EnrollmentValidating: 'enrollment-validating',
  EnrollmentEnrolled: 'enrollment-enrolled',
  EnrollmentRejected: 'enrollment-rejected',
  EnrollmentRenewed: 'enrollment-renewed',
  // These three only of one its admins acted on or were told continues (actedOn): one only invited tells nobody.
  EnrollmentExpired: 'enrollment-expired',
  EnrollmentIneligible: 'enrollment-ineligible',
  EnrollmentDiscontinued: 'enrollment-discontinued',
  EnrollmentRenewalAtRisk: 'enrollment-renewal-at-risk',
};

/** Messages that ask for action: told to the company admins when no Incentives admin holds the location (toCompanyAdmins). */
const NEEDS_SOMEONE: TemplateName[] = [
  'enrollment-action-required',
  'enrollment-rejected',
  'enrollment-expired',
  'enrollment-ineligible',
  'enrollment-renewal-at-risk',
  'profile-action-required',
  'tax-profile-expiring',
];

/** Whether the event is older than NOTIFY_MAX_EVENT_AGE_MS (`maxAgeMs`, 0: no limit): it tells nobody any more. */
export function tooOldToNotify(envelope: Pick<Envelope, 'occurredAt'>, maxAgeMs: number, now = new Date()): boolean {
  const occurredAt = Date.parse(envelope.occurredAt);
  return maxAgeMs > 0 && Number.isFinite(occurredAt) && now.getTime() - occurredAt > maxAgeMs;
}

/** Whether the template asks someone to act (NEEDS_SOMEONE): never left with nobody to tell. */
export function needsSomeone(template: TemplateName): boolean {
  return NEEDS_SOMEONE.includes(template);
}

/** The event types this service turns into messages, per topic (every other type is ignored). */
export const NOTIFYING_EVENTS: Record<string, string[]> = {
  [Topics.invitations]: ['InvitationIssued', 'InvitationDelivered', 'AdminAssignmentRequested'],
  [Topics.enrollments]: Object.keys(ENROLLMENT_TEMPLATES),
  [Topics.payoutProfiles]: ['ProfileActionRequired', 'TaxProfileExpiring'],
};

/**
 * Decides, for one consumed event, which message goes to whom. Recipients come from the recipient view at the
 * time the event is consumed (`fromView`), or are named by an invitation's event; an event with nobody to tell
 * yields no message.
 */
@Injectable()
export class MessagePlanner {
  private readonly portal: string;

  constructor(
    private readonly directory: RecipientDirectory,
    @Inject(CONFIG) config: Pick<NotificationConfig, 'PORTAL_BASE_URL'>,
  ) {
    this.portal = config.PORTAL_BASE_URL.replace(/\/+$/, '');
  }

  /**
   * What to send for the event, to whom, or null for nobody. A plan whose moment has passed (`sendBefore`: what it asks
   * was due before its fiscal year ended; the event read after, by a consumer behind across June 30) tells nobody.
   */
  async plan(topic: string, envelope: Envelope): Promise<MessagePlan | null> {
    let plan = await this.planFor(topic, envelope);
    if (plan && plan.recipients.length === 0 && needsSomeone(plan.template)) plan = await this.toCompanyAdmins(plan);
    return plan?.sendBefore && Date.now() >= +plan.sendBefore ? null : plan;
  }

  /**
   * A message asking for action about a location (or the locations a bank profile serves) that no Incentives admin
   * holds (the last one left after it enrolled, deactivated): to the partner's Global and Account admins instead, who
   * may read every location and appoint one, saying why they get it. Otherwise a rejected profile or an expiring tax
   * profile would reach nobody, and the enrollment would expire at year end without anyone told.
   */
  private async toCompanyAdmins(plan: MessagePlan): Promise<MessagePlan> {
    const where = typeof plan.context.locationLabel === 'string' ? plan.context.locationLabel : 'the locations concerned';
    const query = plan.locationId ? `locationId=${encodeURIComponent(plan.locationId)}&role=INCENTIVES_ADMIN` : 'role=INCENTIVES_ADMIN';
    // Without the Incentives admins' per-recipient wording (a bank profile "ask an admin of its locations to correct
    // it"): there is none, which the note says.
    const { recipientContext: _incentivesAdmins, ...rest } = plan;
    return {
      ...rest,
      recipients: await this.directory.companyAdmins(plan.partnerId),
      audience: { roles: [...COMPANY_ROLES] },
      context: {
        ...plan.context,
        companyAdminNote: `Nobody holds the Incentives admin role on ${where}, so this message goes to your company's Global and Account admins: assign an Incentives admin to act on it.`,
        assignLink: this.link(`/account/users?${query}`),
      },
    };
  }

  private async planFor(topic: string, envelope: Envelope): Promise<MessagePlan | null> {
    if (!NOTIFYING_EVENTS[topic]?.includes(envelope.type)) return null;
    switch (envelope.type) {
      case 'InvitationIssued':
      case 'InvitationDelivered':
        return this.invitation(envelope.data as InvitationIssued);
      case 'AdminAssignmentRequested':
        return this.adminNeeded(envelope.data as AdminAssignmentRequested);
      case 'ProfileActionRequired':
        return this.profileActionRequired(envelope.data as ProfileEvent);
      case 'TaxProfileExpiring':
        return this.taxProfileExpiring(envelope.data as TaxProfileExpiring);
      case 'EnrollmentDiscontinued':
        // Of a year already over when it was discontinued (the event's occurredAt, not when it is read): its enrollment was
        // continued into the next (the rollover leaves it ENROLLED), whose own discontinuation tells; the enrollment ends
        // once, not once more for each year it went through. (One the rollover had not reached yet, discontinued in the
        // first hours of a new year, is not told either.) Judged by when the program was discontinued (`discontinuedAt`),
        // not by the enrollment service's sweep, which may run after the year's end; the event's own date for an older one.
        if (fiscalYearOver((envelope.data as EnrollmentEvent).fiscalYear, new Date((envelope.data as EnrollmentDiscontinued).discontinuedAt ?? envelope.occurredAt))) return null;
        return actedOn(envelope.data as EnrollmentEvent) ? this.enrollment(ENROLLMENT_TEMPLATES[envelope.type], envelope.data as EnrollmentEvent) : null;
      case 'EnrollmentIneligible':
      case 'EnrollmentExpired':
        // An enrollment its admins acted on, or were told of, ended: out of ENROLLED (a continuation the new year's
        // decision or the year-end review undid, whose admins were told it continues; an ineligible decision recorded
        // while Submit enrolled it), out of VALIDATING or ACTION_REQUIRED (being enrolled, or a continuation waiting
        // for them), or INVITED once Enroll started it (Submit next). One only invited tells nobody: nothing was
        // started (its invitation is withdrawn; at year end, the new year's invites again).
        return actedOn(envelope.data as EnrollmentEvent) ? this.enrollment(ENROLLMENT_TEMPLATES[envelope.type], envelope.data as EnrollmentEvent) : null;
      default:
        return this.enrollment(ENROLLMENT_TEMPLATES[envelope.type], envelope.data as EnrollmentEvent);
    }
  }

  /**
   * Email only for programs that require eligibility (and when the invitation asks for it); always the inbox. Until
   * its fiscal year ends (Enroll refuses a year that is over).
   */
  private async invitation(data: InvitationIssued): Promise<MessagePlan> {
    if (!/^https?:\/\//i.test(data.getStartedUrl)) {
      throw new PermanentError(`getStartedUrl must be an http(s) URL: ${data.getStartedUrl}`);
    }
    const email = data.requiresEligibility && data.channels.includes('EMAIL');
    const locationLabel = await this.directory.locationLabel(data.locationId, data.partnerId);
    return {
      template: 'invitation',
      partnerId: data.partnerId,
      locationId: data.locationId,
      channels: email ? BOTH : ['INBOX'],
      recipients: await this.directory.listed(data.partnerId, data.recipients),
      audience: incentivesAdminsOf([data.locationId]),
      context: {
        programLabel: data.programName ?? data.programId,
        locationLabel,
        fiscalYear: data.fiscalYear,
      },
      link: data.getStartedUrl,
      invitationId: data.invitationId,
      invitationVersion: data.invitationVersion,
      invitationOf: invitationOf(data),
      sendBefore: yearEnd(data.fiscalYear),
      // The location not known to the view yet (a location just added, invited at once, its LocationAdded still behind
      // here): planned again once the view has caught up, so that the email names it, not its bare id, for good.
      ...(locationLabel === data.locationId && { fromView: true as const }),
    };
  }

  /**
   * To the Global and Account admins the event names; when none of them can be told (every one deactivated or
   * without the role since, as far as the view knows, or it names none), to those of the recipient view instead, so
   * that someone is still told that the location needs an Incentives admin. Not to both, and never for a `late`
   * request (to company admins appointed while the invitation waits, naming them alone): the others were asked
   * before. Until the invitation's fiscal year ends, as the invitation.
   */
  private async adminNeeded(data: AdminAssignmentRequested): Promise<MessagePlan> {
    const listed = await this.directory.listed(data.partnerId, data.recipients);
    const reachable =
      data.late === true ||
      listed.some((named) => named.active !== false && (named.roles === undefined || inAudience({ roles: named.roles }, { roles: [...COMPANY_ROLES] })));
    const seen = new Set<string>();
    const recipients = [...listed, ...(reachable ? [] : await this.directory.companyAdmins(data.partnerId))].filter(
      ({ userId }) => !seen.has(userId) && Boolean(seen.add(userId)),
    );
    return {
      template: 'admin-assignment-requested',
      partnerId: data.partnerId,
      locationId: data.locationId,
      channels: BOTH,
      recipients,
      audience: { roles: [...COMPANY_ROLES] },
      context: {
        programLabel: data.programName ?? data.programId,
        locationLabel: await this.directory.locationLabel(data.locationId, data.partnerId),
        fiscalYear: data.fiscalYear,
      },
      link: this.link(`/account/users?locationId=${encodeURIComponent(data.locationId)}&role=INCENTIVES_ADMIN`),
      invitationId: data.invitationId,
      invitationVersion: data.invitationVersion,
      invitationOf: invitationOf(data),
      sendBefore: yearEnd(data.fiscalYear),
      fromView: true,
    };
  }

  /** To the Incentives admins of the enrollment's location. */
  private async enrollment(template: TemplateName, data: EnrollmentEvent): Promise<MessagePlan> {
    const context: Record<string, unknown> = {
      programLabel: data.programName ?? data.programId,
      locationLabel: await this.directory.locationLabel(data.locationId, data.partnerId),
      fiscalYear: data.fiscalYear,
      statusLabel: enrollmentStatusWording(data.status),
      // The reasons that only say what `missing` lists (in the enrollment's words) are left out: the email lists the
      // missing items once, and keeps the reasons that tell more (the validator's, a profile that stopped serving).
      reasons: reasonsBeyondMissing(data.reasons ?? [], data.missing ?? []),
      missing: missingItemsWording(data.missing ?? [], data.reasons ?? []),
      profilesLink: this.link('/incentives/payout-and-tax'),
    };
    // Continued by the fiscal-year rollover from that year (EnrollmentRenewed always; Validating, Rejected and
    // ActionRequired when the rollover created the enrollment so).
    if (data.fromFiscalYear) context.fromFiscalYear = data.fromFiscalYear;
    // Back in validation after ENROLLED: a profile it uses was edited (SPEC 1, Enrollment 5), not a Submit. After
    // ACTION_REQUIRED: a Submit, or a rejected profile corrected (validated again without a Submit): said neither.
    // Validated, or being validated: its tax profile too where it has one (a program requiring none may have none).
    if (template === 'enrollment-enrolled' || template === 'enrollment-validating') context.withTaxProfile = !!data.taxProfileId;
    if (template === 'enrollment-validating') {
      context.backToValidation = data.previousStatus === 'ENROLLED';
      context.afterActionRequired = data.previousStatus === 'ACTION_REQUIRED';
    }
    // Out of ENROLLED (a required tax profile expired, its bank profile no longer serving the location) or out of
    // validation: submitted already, not "before it can be submitted".
    if (template === 'enrollment-action-required') {
      // Completed in its year (ENROLLED once): also a new reason while ACTION_REQUIRED (no previousStatus then).
      context.wasEnrolled = data.previousStatus === 'ENROLLED' || (data.status === 'ACTION_REQUIRED' && data.completed === true);
      // Submitted (`submitted`; older producers: out of VALIDATING): its validation goes on once corrected. Not one
      // whose bank choice was withdrawn out of VALIDATING (`submitted` false): it is submitted again.
      context.wasSubmitted = data.submitted ?? data.previousStatus === 'VALIDATING';
      // It follows its profiles (submitted, not sent back to the proposal): corrected, it goes on without Continue.
      context.followsProfiles = data.submitted ?? (data.previousStatus === 'VALIDATING' || data.previousStatus === 'ENROLLED');
      // Its bank profile's currency or payment method the program does not allow (it narrowed them): a location's default
      // cannot change its currency, and another default does not reach a submitted enrollment. Choosing another bank
      // profile on the enrollment (Continue, then Submit) is the way the enrollment API names first (completeAt).
      context.anotherBankProfile = context.followsProfiles && (data.missing ?? []).some((code) => BANK_CHOICE_ITEMS.includes(code));
      context.currencyNotAllowed = (data.missing ?? []).includes('CURRENCY_NOT_ALLOWED');
    }
    let sendBefore: Date | undefined;
    if (template === 'enrollment-renewal-at-risk') {
      const risk = data as EnrollmentRenewalAtRisk;
      // Asks for something before the year ends (plan: read once it has, it tells nobody).
      if (!Number.isNaN(Date.parse(risk.fiscalYearEndsAt))) sendBefore = new Date(risk.fiscalYearEndsAt);
      // fiscalYearEndsAt is the exclusive end (FY27: 2027-07-01T00:00:00Z): the year's last day is the day before.
      const end = Date.parse(risk.fiscalYearEndsAt);
      context.fiscalYearEnds = longDate(Number.isNaN(end) ? risk.fiscalYearEndsAt : new Date(end - 1).toISOString());
      context.notCompleted = risk.kind === 'NOT_COMPLETED';
      // Completed, its payout or tax information alone falling short: the rollover continues it as Action required.
      context.continuesWithAction = risk.kind !== 'NOT_COMPLETED' && risk.outcome === 'ACTION_REQUIRED';
      // Completing the payout information saves it (not for one that will expire for its eligibility or agreement).
      context.completable = context.notCompleted || context.continuesWithAction;
    }
    return {
      template,
      partnerId: data.partnerId,
      locationId: data.locationId,
      channels: BOTH,
      recipients: await this.directory.incentivesAdmins(data.partnerId, data.locationId),
      audience: incentivesAdminsOf([data.locationId]),
      context,
      link: enrollmentPageUrl(this.portal, data.enrollmentId),
      enrollmentId: data.enrollmentId,
      // A reminder that it is not completed is withdrawn by a later change's email that completes it or leaves nothing
      // to do (Submit: VALIDATING; ENROLLED; ended), not by one that leaves it to complete (a rejection, Continue: the
      // reminder's deadline still holds); one that it will not continue (eligibility, agreement, payout information) is
      // not withdrawn: no status change says so.
      ...(template !== 'enrollment-renewal-at-risk'
        ? { enrollmentStatus: { enrollmentId: data.enrollmentId, revision: data.revision, ...(STILL_TO_COMPLETE.includes(data.status) && { stillToComplete: true as const }) } }
        : (data as EnrollmentRenewalAtRisk).kind === 'NOT_COMPLETED' && { enrollmentStatus: { enrollmentId: data.enrollmentId, revision: data.revision, reminder: true as const } }),
      ...(sendBefore && { sendBefore }),
      fromView: true,
    };
  }

  /**
   * A tax profile belongs to one location: its Incentives admins. A bank profile serves named locations
   * (`locationIds`): the Incentives admins of those, each once, and nobody else: an admin of another location may
   * not see the profile, and the message names it, its masked account and the validator's reasons. One serving every
   * location (`*`, or an event written before `locationIds` existed): every Incentives admin of the partner.
   */
  private async profileActionRequired(data: ProfileEvent): Promise<MessagePlan> {
    const served = data.locationIds?.length ? data.locationIds : [ALL_LOCATIONS];
    const recipients = data.locationId
      ? await this.directory.incentivesAdmins(data.partnerId, data.locationId)
      : served.includes(ALL_LOCATIONS)
        ? await this.directory.allIncentivesAdmins(data.partnerId)
        : await this.directory.incentivesAdminsOfAny(data.partnerId, served);
    const kind = data.profileKind === 'TAX' ? 'tax' : 'bank';
    const canChange = (recipient: Addressee) => !recipient.roles || served.every((locationId) => grantsRole(recipient.roles!, 'INCENTIVES_ADMIN', locationId));
    // None of them may change it (a profile serving `*` nobody holds, or locations with admins of their own): "ask one
    // of them" would send them looking for someone who does not exist.
    const nobodyCanChange = !recipients.some(canChange);
    return {
      template: 'profile-action-required',
      partnerId: data.partnerId,
      locationId: data.locationId,
      channels: BOTH,
      recipients,
      audience: incentivesAdminsOf(data.locationId ? [data.locationId] : served.includes(ALL_LOCATIONS) ? undefined : served),
      context: {
        profileKindLabel: kind,
        // Its name and masked account (two bank profiles of similar names told apart); either alone, or its id.
        profileLabel: data.name && data.maskedAccount ? `${data.name} (${data.maskedAccount})` : (data.name ?? data.maskedAccount ?? data.profileId),
        locationLabel: data.locationId ? await this.directory.locationLabel(data.locationId, data.partnerId) : undefined,
        reasons: data.reasons ?? [],
      },
      link: this.link(`/incentives/payout-and-tax/${kind}/${encodeURIComponent(data.profileId)}`),
      profile: { profileId: data.profileId, revision: data.revision },
      fromView: true,
      // Only an Incentives admin of every location a bank profile serves may change it (payout-profiles answers 403
      // otherwise): one shared with locations a recipient does not look after is not theirs to update. A recipient
      // whose roles the view does not know is told as before (it may change it).
      ...(kind === 'bank' && {
        recipientContext: (recipient: Addressee) => ({ cannotChange: !canChange(recipient), nobodyCanChange }),
      }),
    };
  }

  private async taxProfileExpiring(data: TaxProfileExpiring): Promise<MessagePlan> {
    const expiry = expiryNow(data, new Date());
    return {
      template: 'tax-profile-expiring',
      partnerId: data.partnerId,
      locationId: data.locationId,
      channels: BOTH,
      recipients: await this.directory.incentivesAdmins(data.partnerId, data.locationId),
      audience: incentivesAdminsOf([data.locationId]),
      context: {
        locationLabel: await this.directory.locationLabel(data.locationId, data.partnerId),
        expiresOn: longDate(data.expiresAt),
        ...expiry,
      },
      link: this.link(`/incentives/payout-and-tax/tax/${encodeURIComponent(data.profileId)}`),
      // "Expires on" is not sent once it has (an email held up past the expiry); "has expired" is sent whenever.
      ...(!expiry.expired && { sendBefore: new Date(data.expiresAt) }),
      profile: { profileId: data.profileId, expiresAt: new Date(data.expiresAt) },
      fromView: true,
    };
  }

  private link(path: string): string {
    return `${this.portal}${path}`;
  }
}

/**
 * A tax profile's expiry as the message tells it: `expired` when the scan found it expired already (`daysLeft` 0 or
 * less: it reports profiles that expired before it ran too) or it has by `now` (the event handled late), else when it
 * falls, by date (the email shows the date, not the hours): as the scan counted, or fewer as counted now (the event
 * handled days after the scan: a backlog, a wait for identity's events).
 */
function expiryNow(data: Pick<TaxProfileExpiring, 'expiresAt' | 'daysLeft'>, now: Date): { expired: boolean; daysLeftLabel?: string } {
  const expiresAt = Date.parse(data.expiresAt);
  const left = expiresAt - now.getTime();
  const expired = data.daysLeft <= 0 || left <= 0;
  if (expired) return { expired };
  // From today's date to the expiry's, as the email shows them (UTC).
  const calendarDays = Math.floor(expiresAt / 86_400_000) - Math.floor(now.getTime() / 86_400_000);
  return { expired, daysLeftLabel: daysLeftLabel(Math.min(data.daysLeft, calendarDays)) };
}

/** What a waiting email about an invitation is checked against its program by (MessagePlan.invitationOf). */
function invitationOf(data: { programId: string; fiscalYear: string; programRevision?: number }): MessagePlan['invitationOf'] {
  return { programId: data.programId, fiscalYear: data.fiscalYear, ...(data.programRevision !== undefined && { programRevision: data.programRevision }) };
}

/** The exclusive end of an invitation's fiscal year (FY27: 2027-07-01T00:00:00Z). */
function yearEnd(fiscalYear: string): Date {
  return fiscalYearRange(fiscalYear).end;
}
