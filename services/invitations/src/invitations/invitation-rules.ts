import { ENROLLING_STATUSES, EnrollmentStatus, fiscalYearOver, ineligibleReasons, laterThanNamed, LogPosition, nextFiscalYear, ProgramState } from '@lib/contracts';
import { InvitationState } from './invitation.schema';

/** A user an invitation is addressed to. */
export interface Person {
  userId: string;
  email: string;
  displayName: string;
}

/** A user of the role view as an invitation names them. */
export function personOf(user: { _id: string; email: string; displayName: string }): Person {
  return { userId: user._id, email: user.email, displayName: user.displayName };
}

/** Everything the service knows about one (program, location, fiscal year). */
export interface InvitationFacts {
  invitation: { state: InvitationState; recipients: Array<{ userId: string }>; adminRequestPending?: boolean; askedAdmins?: string[] } | null;
  /** The latest eligibility decision of the invitation's fiscal year (`eventId`: the event that told it); null until one arrived. */
  decision: { eligible: boolean; reasons: string[]; fiscalYear: string; eventId?: string; decidedAt?: Date; position?: LogPosition } | null;
  /** The program as last described (`fiscalYear`: the year Enroll enrolls in now); null until ProgramCreated arrived. */
  program: { requiresEligibility: boolean; state: ProgramState; fiscalYear: string } | null;
  enrollmentStatus: EnrollmentStatus | null;
  /**
   * Whether the enrollment of the invitation's year was ENROLLED once (the status view's `completed`), also when a
   * profile edit or rejection sent it back since: enrolled for good, as far as invitations go.
   */
  enrollmentCompleted?: boolean;
  /**
   * Whether the enrollment of the invitation's year was made by the fiscal-year rollover continuing the previous
   * year's (one of its events carried `fromFiscalYear`).
   */
  enrollmentContinued?: boolean;
  /**
   * Whether the rollover made the enrollment of the invitation's year (`madeByRollover`: one of its events carried
   * `fromFiscalYear`), whatever became of it since: the previous year's is not continued into it any more, also once
   * Enroll started it again (no longer `enrollmentContinued`).
   */
  enrollmentMadeByRollover?: boolean;
  /**
   * The eligibility decision that ended the enrollment INELIGIBLE, as its event names it (null or absent: none named),
   * also once Enroll has started it again. An eligible decision not later than it does not issue the invitation again:
   * the enrollment service had seen it replaced by that one (ineligible), which may still be on its way here (issued
   * now, the invitation would be revoked when it arrives). A later decision does.
   */
  enrollmentEndedBy?: { eventId: string; decidedAt: Date; position?: LogPosition } | null;
  /**
   * The enrollment of the same program and location in the fiscal year before the invitation's, as the status view
   * knows it (read only when the decision would invite): `completed` once it was ENROLLED (also when a profile edit
   * or rejection sent it back since), as the rollover's notion of an enrollment it continues.
   */
  previousYear?: { status: EnrollmentStatus; completed: boolean } | null;
  /** Active Incentives admins of the location now (directly or through `*`). */
  admins: Person[];
  /**
   * The active Global and Account admins of the partner now (read only for a waiting invitation whose request to
   * assign an admin is pending, nobody could be asked when it started waiting, or that records whom it asked).
   */
  companyAdmins?: Person[];
  /**
   * Whether identity's events have made the location known as the decision's partner's. Until then nobody is invited
   * nor asked to assign an admin: a decision naming a location that is not known yet may name the wrong partner,
   * whose `*` admins would be invited to another partner's location.
   */
  locationKnown: boolean;
}

export type Transition =
  | { kind: 'none'; why: string }
  /** A new invitation, or a revoked one issued again, to the location's Incentives admins. */
  | { kind: 'issue'; recipients: Person[] }
  /** As `issue`, but nobody can receive it yet: the company admins are asked to assign an Incentives admin. */
  | { kind: 'await-admin' }
  /** A waiting invitation whose company admins could not be asked when it started waiting (none known): ask them now. */
  | { kind: 'ask-admins' }
  /** A waiting invitation whose request went out: ask the company admins appointed since (none of `askedAdmins`). */
  | { kind: 'ask-late-admins'; recipients: Person[] }
  /**
   * An issued invitation whose Incentives admins all left (role revoked, deactivated): it waits again and the company
   * admins are asked to assign one, as for `await-admin` (SPEC Invitations 3).
   */
  | { kind: 'admins-left' }
  /** An open invitation reaches Incentives admins who did not receive it yet. */
  | { kind: 'deliver'; recipients: Person[] }
  /** `decision`: the not-eligible decision behind it, named by its event (InvitationRevoked.decision). */
  | { kind: 'revoke'; reasons: string[]; decision?: { eventId: string; decidedAt: Date; position?: LogPosition } }
  | { kind: 'mark-enrolled' };

const OPEN_STATES: InvitationState[] = ['AWAITING_ADMIN', 'ISSUED'];

/** Enrollment statuses nothing continues from: expired at the rollover, ended by eligibility, program discontinued. */
export const ENDED_STATUSES: readonly EnrollmentStatus[] = ['EXPIRED', 'INELIGIBLE', 'DISCONTINUED'];

/** Statuses only an enrollment Enroll has started reaches (the enrollment service's `evaluatedAt` is set there). */
export const STARTED_STATUSES: readonly EnrollmentStatus[] = [...ENROLLING_STATUSES, 'ENROLLED'];

/**
 * Ended for good: Enroll refuses both (an operator's rollover may expire an enrollment while its program is still in
 * that year; its DISCONTINUED event may come before the program's). Nothing to invite anyone to.
 */
export const FINAL_STATUSES: readonly EnrollmentStatus[] = ['EXPIRED', 'DISCONTINUED'];

/**
 * Which invitations an enrollment status change can move (so reconciles), given whether the enrollment was completed
 * before the change or is after it (`completed`: an early renewal undone at year end ends no longer completed, yet it
 * held the next year's invitation until then). `nextTransition` reads of an enrollment only whether it is
 * ENROLLED, whether it is INELIGIBLE (Enroll starts it again: an invitation leads there, continued or not), whether
 * it is VALIDATING (a late admin is delivered nothing then), and, for the next fiscal year's invitation, whether it
 * was completed and has not ended (the rollover continues it). So:
 *  - its own year's invitation, on entering or leaving ENROLLED, on entering INELIGIBLE, and from VALIDATING back to
 *    ACTION_REQUIRED or INVITED (a late admin's delivery held while it was being validated is due once it needs
 *    action; ended from VALIDATING, EXPIRED or DISCONTINUED, a late admin is delivered nothing either);
 *  - the next year's invitation, when a completed enrollment ends (EnrollmentExpired at the rollover, ...): the
 *    next year's decision it held may invite now. Unfinished enrollments expiring at the rollover held nothing.
 * Every other change (Started, Action required, Validating...: two of them for every first Enroll; a continuation
 * that is not ENROLLED) can only hold an invitation that was not due, never make one due, so it only updates the
 * overview, without the invitation's lock and reads. `previousStatus` is the status the enrollment left, as the event
 * carries it: a redelivered "left ENROLLED" event still counts after the view already holds its status.
 */
export function invitationsMovedBy(
  change: { status: EnrollmentStatus; previousStatus?: EnrollmentStatus },
  view: { completed: boolean },
): { own: boolean; nextYear: boolean } {
  return {
    own:
      change.status === 'ENROLLED' ||
      change.previousStatus === 'ENROLLED' ||
      change.status === 'INELIGIBLE' ||
      (change.previousStatus === 'VALIDATING' && (change.status === 'ACTION_REQUIRED' || change.status === 'INVITED')) ||
      // Final: never left (were it, what held a late admin's delivery would be gone).
      change.previousStatus === 'EXPIRED' ||
      change.previousStatus === 'DISCONTINUED',
    nextYear: ENDED_STATUSES.includes(change.status) && view.completed,
  };
}

/**
 * Whether an invitation of `fiscalYear` leads to an Enroll that accepts at `now`: the program is `OPEN`, that is its
 * current fiscal year (Enroll always enrolls in the program's current year), and that year is not over (Enroll
 * refuses a year that is over, until an operator moves the program to the next one). The one rule behind issuing,
 * delivering, listing notices and offering Enroll on the overview.
 */
export function enrollableNow(
  program: { state: ProgramState; fiscalYear: string } | null | undefined,
  fiscalYear: string,
  now: Date,
  { started = false }: { started?: boolean } = {},
): boolean {
  // Only starting needs OPEN: an enrollment Enroll started goes on (Continue) in a program closed since.
  const takes = program?.state === 'OPEN' || (started && program?.state === 'CLOSED');
  return takes && program!.fiscalYear === fiscalYear && !fiscalYearOver(fiscalYear, now);
}

/**
 * Why an eligible decision may not become an invitation at `now` (nothing issued, nothing delivered), or null when it
 * may. Only an `OPEN` program invites, only for its current fiscal year, and only until that year is over: Enroll
 * always enrolls in the program's current year, so an invitation of another year would lead to an Enroll that refuses
 * (or is not needed: a location enrolled this year continues into the next one without action), and so would one of
 * a year that is over (the program was not moved to the next year yet). The decision is kept either way.
 */
export function whyNotInviting(
  decision: { fiscalYear: string },
  program: { state: ProgramState; fiscalYear: string },
  now: Date,
): string | null {
  if (enrollableNow(program, decision.fiscalYear, now)) return null;
  if (program.state !== 'OPEN') return `program is ${program.state}: nothing issued or delivered`;
  if (program.fiscalYear !== decision.fiscalYear) {
    return `${decision.fiscalYear} is not the program's current fiscal year (${program.fiscalYear}): nothing issued or delivered`;
  }
  return (
    `${decision.fiscalYear} is over and the program has not moved to ${nextFiscalYear(decision.fiscalYear)} yet ` +
    '(Enroll refuses a year that is over): nothing issued or delivered'
  );
}

/**
 * Why an eligible decision of the program's current fiscal year needs no invitation because the location's enrollment
 * of that program is continued into that year with no action (SPEC, Enrollment rule 6), or null. Held while the
 * previous year's enrollment was completed and has not ended (the rollover will continue it, or end it: then
 * EnrollmentExpired reconciles this invitation), and once the rollover has continued it into this year. Nothing is
 * issued or delivered, nobody is told; the decision is kept. An INELIGIBLE enrollment of this year the rollover
 * continued is not held (its renewal undone: Enroll starts it again once eligible, and the invitation is what leads
 * there); one the rollover has yet to reach is, as an INVITED one is (the rollover continues into it all the same):
 * whichever of the eligible decision and the enrollment's reopening comes first, the same answer. One the rollover
 * made that Enroll started again (after INELIGIBLE) is the year's own: the previous year's, completed and never ended
 * (the rollover ends nothing it continued), holds nothing any more.
 */
export function whyContinued(facts: Pick<InvitationFacts, 'enrollmentStatus' | 'enrollmentContinued' | 'enrollmentMadeByRollover' | 'previousYear'>): string | null {
  if (facts.enrollmentStatus === 'INELIGIBLE' && facts.enrollmentContinued) return null;
  if (facts.enrollmentContinued) return "continued from the previous fiscal year's enrollment by the rollover: no invitation";
  if (facts.enrollmentMadeByRollover) return null;
  const previous = facts.previousYear;
  if (previous?.completed && !ENDED_STATUSES.includes(previous.status)) {
    return "the previous fiscal year's enrollment was completed and is continued by the rollover: no invitation";
  }
  return null;
}

/**
 * The one rule set of invitations: the next transition from the current facts at `now`. It is a function of state
 * (and of the date: nothing invites to a fiscal year that is over), not of the message that triggered it, so
 * decisions, role events, program events and enrollment events arriving in any order, or more than once, lead to the
 * same invitation. Time passing only ever takes an invitation away (a year ends), never makes one due, so nothing
 * needs to run when a year ends.
 */
export function nextTransition(facts: InvitationFacts, now: Date): Transition {
  const { invitation, decision, program, enrollmentStatus, admins } = facts;

  // Enrolled, now or once (a profile edit sent it back to validation since): the enrollment service owns what happens
  // next (eligibility loss, renewal). Nothing is issued, delivered or revoked here any more, also when ENROLLED was
  // seen before any invitation existed (the admin enrolled from the overview, or the decision came late).
  if (enrollmentStatus === 'ENROLLED' || facts.enrollmentCompleted) {
    return invitation && invitation.state !== 'ENROLLED' ? { kind: 'mark-enrolled' } : { kind: 'none', why: 'enrolled' };
  }
  // Marked ENROLLED, its enrollment INELIGIBLE and no longer completed: the completion was taken back (a renewal by an
  // operator's early rollover run, undone at year end; Enroll starts it again). It is issued again like a revoked one.
  if (invitation?.state === 'ENROLLED' && enrollmentStatus !== 'INELIGIBLE') return { kind: 'none', why: 'enrolled' };
  if (!decision) return { kind: 'none', why: 'no eligibility decision yet' };
  if (!program) return { kind: 'none', why: 'program not known yet: the decision waits for it' };
  if (!program.requiresEligibility) return { kind: 'none', why: 'open program: shown on the overview, never invited' };

  if (!decision.eligible) {
    // Open, or marked ENROLLED while its enrollment's completion has been taken back since (INELIGIBLE, above): its
    // notices still invite to an Enroll that now refuses.
    const revocable = invitation && (OPEN_STATES.includes(invitation.state) || (invitation.state === 'ENROLLED' && enrollmentStatus === 'INELIGIBLE'));
    return revocable
      ? {
          kind: 'revoke',
          reasons: ineligibleReasons(decision.reasons, decision.fiscalYear),
          ...(decision.eventId && decision.decidedAt && { decision: { eventId: decision.eventId, decidedAt: decision.decidedAt, ...(decision.position && { position: decision.position }) } }),
        }
      : { kind: 'none', why: 'not eligible, nothing to revoke' };
  }

  // Ended for good (FINAL_STATUSES): nothing to issue, deliver, or ask an admin for.
  if (enrollmentStatus && FINAL_STATUSES.includes(enrollmentStatus)) {
    return { kind: 'none', why: `the enrollment is ${enrollmentStatus}: nothing to invite anyone to` };
  }
  // Revoking (above) is right for any year, date and program state; inviting is not.
  const notNow = whyNotInviting(decision, program, now);
  if (notNow) return { kind: 'none', why: notNow };
  const continued = whyContinued(facts);
  if (continued) return { kind: 'none', why: continued };

  if (!facts.locationKnown) return { kind: 'none', why: "location not known as the decision's partner's yet: waits for identity" };
  // Submitted and being validated (never completed: see above): an invitation to enroll would ask for what is done (the
  // overview shows the enrollment), so none is issued (an open program that came to require eligibility, a decision
  // read after the Submit) or delivered to an admin appointed since, and no company admin is asked to appoint one
  // (their request says the invitation reaches whoever they assign). Sent back for action, that change reconciles it.
  if (enrollmentStatus === 'VALIDATING') return { kind: 'none', why: 'submitted and being validated: nothing to invite anyone to, nor an admin to ask for' };

  if (!invitation || invitation.state === 'REVOKED' || invitation.state === 'ENROLLED') {
    if (facts.enrollmentEndedBy && !laterThanNamed(decision, facts.enrollmentEndedBy)) {
      return { kind: 'none', why: 'the enrollment ended INELIGIBLE on a decision later than this one: a later decision invites again' };
    }
    return admins.length ? { kind: 'issue', recipients: admins } : { kind: 'await-admin' };
  }

  // Every Incentives admin it reached has left (role revoked, user deactivated): the location has none, so the
  // invitation waits again and the company admins are asked to assign one.
  if (invitation.state === 'ISSUED' && !admins.length) return { kind: 'admins-left' };

  // A waiting invitation is delivered to every Incentives admin the location has now, also to one it reached before
  // they left (their role given back, or reactivated): nobody holds it while it waits.
  const known = new Set(invitation.state === 'AWAITING_ADMIN' ? [] : invitation.recipients.map((r) => r.userId));
  const late = admins.filter((admin) => !known.has(admin.userId));
  if (late.length) return { kind: 'deliver', recipients: late };
  if (invitation.state === 'AWAITING_ADMIN' && invitation.adminRequestPending) {
    return facts.companyAdmins?.length ? { kind: 'ask-admins' } : { kind: 'none', why: 'no Global or Account admin known yet to ask for an Incentives admin' };
  }
  // Every Global and Account admin is told (SPEC Invitations 3), also one appointed while it waits.
  if (invitation.state === 'AWAITING_ADMIN' && invitation.askedAdmins) {
    const asked = new Set(invitation.askedAdmins);
    const unasked = (facts.companyAdmins ?? []).filter((admin) => !asked.has(admin.userId));
    if (unasked.length) return { kind: 'ask-late-admins', recipients: unasked };
  }
  return { kind: 'none', why: 'every admin has it' };
}
