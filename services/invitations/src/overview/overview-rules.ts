import { Actor, holdsRole } from '@lib/access';
import { enrollmentPageUrl, EnrollmentStatus, EnrollmentStatusLabels, enrollmentStatusLabel, fiscalYearBefore, fiscalYearOver, laterThanNamed, LogPosition, nextFiscalYear, previousFiscalYear, ProgramState } from '@lib/contracts';
import { getStartedUrl } from '../invitations/invitation-ids';
import { enrollableNow, ENDED_STATUSES, FINAL_STATUSES, STARTED_STATUSES } from '../invitations/invitation-rules';
import { InvitationState } from '../invitations/invitation.schema';

/**
 * ENROLL: the Get Started link (Enroll, which goes on with one started: Continue). CONTINUE: a started enrollment of a
 * fiscal year the program is not in (a renewal the rollover made while the program is still in the year before, or an
 * early run's), which Enroll would not reach: its own page, where Continue acts on it (Action required; Submit next;
 * ended INELIGIBLE and eligible again, of a year after the program's).
 */
export const OverviewActions = ['ENROLL', 'CONTINUE'] as const;
export type OverviewAction = (typeof OverviewActions)[number];

/**
 * Statuses where Enroll is not offered: done, waiting for validation, or ended for good (Enroll answers 409 for an
 * expired or discontinued enrollment). INELIGIBLE is decided apart: Enroll starts it again once the location is
 * eligible again.
 */
const NO_ENROLL: EnrollmentStatus[] = ['ENROLLED', 'VALIDATING', ...FINAL_STATUSES];

export interface OverviewProgramEntry {
  programId: string;
  programName: string;
  fiscalYear: string;
  requiresEligibility: boolean;
  invitationId?: string;
  invitationState?: InvitationState;
  enrollmentStatus: EnrollmentStatus | null;
  /**
   * Partner Center wording: the enrollment status label, else "Invited": for an invitation, and for an open program,
   * whose invitation the overview is ("The Incentive administrator will see invitations for these programs on the
   * incentive overview page").
   */
  status: string;
  actions: OverviewAction[];
  /** Where Enroll leads, when the action is offered. */
  getStartedUrl?: string;
  /** Where Continue leads (the enrollment's page), when that action is offered. */
  continueUrl?: string;
}

export interface OverviewLocation {
  locationId: string;
  legalName: string;
  country: string;
  programs: OverviewProgramEntry[];
}

export interface OverviewInput {
  actor: Pick<Actor, 'roles'>;
  locations: Array<{ _id: string; legalName: string; country: string }>;
  invitations: Array<{
    _id: string;
    programId: string;
    programName?: string;
    locationId: string;
    fiscalYear: string;
    state: InvitationState;
    getStartedUrl: string;
  }>;
  /** Every program referenced by the invitations and enrollments, and every open program. */
  programs: Map<string, { _id: string; name: string; fiscalYear: string; requiresEligibility: boolean; state: ProgramState }>;
  /**
   * `started`: Enroll has started it (its label to viewers other than the admin: enrollmentStatusLabel);
   * `madeByRollover`: the rollover made it, continuing the previous fiscal year's (whatever became of it since).
   */
  enrollments: Array<{
    enrollmentId?: string;
    programId: string;
    locationId: string;
    fiscalYear: string;
    status: EnrollmentStatus;
    started?: boolean;
    madeByRollover?: boolean;
    continued?: boolean;
    /** Completed (ENROLLED once) in its year: the rollover continues it into the next one unless it ended. */
    completed?: boolean;
    /** The decision its latest INELIGIBLE event named as the one that ended it. */
    endedBy?: { eventId: string; decidedAt: Date; position?: LogPosition } | null;
  }>;
  /** The latest eligibility decisions of the locations (whether an INELIGIBLE enrollment can start again). */
  decisions: Array<{ programId: string; locationId: string; fiscalYear: string; eligible: boolean; eventId?: string; decidedAt?: Date; position?: LogPosition }>;
  portalBaseUrl: string;
  /** The Clock's now: nothing of a fiscal year that is over is offered (Enroll refuses it). */
  now: Date;
}

const entryKey = (programId: string, fiscalYear: string) => `${programId}\u0000${fiscalYear}`;

/**
 * The incentives overview: per visible location, the programs it can enroll in (invited programs that are not
 * revoked, open and in the invitation's fiscal year, and open programs that accept enrollments), plus any program it
 * has an enrollment in, each with its status and the Enroll action where the user is an Incentives admin of the
 * location and Enroll would accept.
 *
 * A fiscal year that is over at `now` is treated as a closed program is: Enroll refuses to start an enrollment of it
 * (409 `fiscal-year-ended`) until an operator moves the program to the next year. So an invitation, or an open
 * program, still in a year that is over is not listed, unless the location has an enrollment of that year, which is
 * then shown with its status and no action (Continue and Submit are refused too, the rollover decides it).
 */
export function buildOverview(input: OverviewInput): OverviewLocation[] {
  const openPrograms = [...input.programs.values()].filter(
    (p) => !p.requiresEligibility && enrollableNow(p, p.fiscalYear, input.now),
  );
  return input.locations.map((location) => {
    const isAdmin = holdsRole(input.actor, 'INCENTIVES_ADMIN', location._id);
    const enrollments = new Map(input.enrollments.filter((e) => e.locationId === location._id).map((e) => [entryKey(e.programId, e.fiscalYear), e] as const));
    // Years the rollover has continued into the next one (also early, before the year ends): Enroll answers such a year's
    // enrollment as it is, changing nothing (the next year's is where the admin acts), also once the continuation
    // ended or was started again.
    // (`continued` too: a row the rollover made before `madeByRollover` was recorded.)
    const continuedFrom = new Set(
      [...enrollments.values()].filter((e) => e.madeByRollover || e.continued).map((e) => entryKey(e.programId, previousFiscalYear(e.fiscalYear))),
    );
    // An eligible decision the enrollment's end names no later decision than (laterThanNamed: the one that ended it still on
    // its way here) does not start it again: Enroll answers 422 until a later one comes, as no invitation is issued.
    const eligible = new Set(
      input.decisions
        .filter((d) => d.locationId === location._id && d.eligible)
        .filter((d) => {
          const endedBy = enrollments.get(entryKey(d.programId, d.fiscalYear))?.endedBy;
          return !endedBy || laterThanNamed(d, endedBy);
        })
        .map((d) => entryKey(d.programId, d.fiscalYear)),
    );
    // Next years a completed enrollment not ended is continued into by the rollover, with no action (SPEC Enrollment 6),
    // before the rollover has made the continuation: no Enroll there (it would start a second enrollment of that year
    // beside the continuation), and an open program moved on to it is not listed for it, as the invitation of a program
    // that needs eligibility is held then (whyContinued).
    const continuing = new Set(
      [...enrollments.values()]
        .filter((e) => (e.status === 'ENROLLED' || e.completed) && !ENDED_STATUSES.includes(e.status))
        .map((e) => entryKey(e.programId, nextFiscalYear(e.fiscalYear)))
        .filter((key) => !enrollments.has(key)),
    );
    const entries = new Map<string, OverviewProgramEntry>();
    const add = (
      programId: string,
      fiscalYear: string,
      fallbackName: string | undefined,
      enrollable: boolean,
      link: string | undefined,
      invitation?: { _id: string; state: InvitationState },
    ) => {
      const key = entryKey(programId, fiscalYear);
      if (entries.has(key)) return;
      const program = input.programs.get(programId);
      const enrollment = enrollments.get(key);
      const enrollmentStatus = enrollment?.status ?? null;
      const requiresEligibility = program?.requiresEligibility ?? true;
      // Enroll starts an INELIGIBLE enrollment again only once the location is eligible (open programs: always).
      const endedForNow = enrollmentStatus === 'INELIGIBLE' && requiresEligibility && !eligible.has(key);
      const started = wasStarted(enrollment);
      // One Enroll started goes on (Continue) in a program closed since, as Enroll answers it (only starting needs OPEN).
      // So does one Enroll started that ended INELIGIBLE, once the location is eligible again (endedForNow otherwise).
      const goesOn =
        (enrollmentStatus === 'ACTION_REQUIRED' || enrollmentStatus === 'INVITED' || enrollmentStatus === 'INELIGIBLE') &&
        enrollableNow(program, fiscalYear, input.now, { started });
      const canEnroll =
        isAdmin &&
        (enrollable || goesOn) &&
        !endedForNow &&
        !continuedFrom.has(key) &&
        !continuing.has(key) &&
        (!enrollmentStatus || !NO_ENROLL.includes(enrollmentStatus));
      // Started, in a year Enroll does not reach (the program in another year): Continue on the enrollment itself, as the
      // enrollment service offers it (its year not over, not continued into the next one, the program not discontinued):
      // Action required; Submit next (INVITED once Continue made it complete: Submit is on the same page); or ended
      // INELIGIBLE and eligible again (Continue on it starts it again, where Enroll would act on the program's year).
      const continues =
        isAdmin &&
        !canEnroll &&
        (enrollmentStatus === 'ACTION_REQUIRED' ||
          enrollmentStatus === 'INVITED' ||
          // Starting again: only of a year after the program's (one it has moved past starts no more, 409).
          (enrollmentStatus === 'INELIGIBLE' && !endedForNow && !!program && fiscalYearBefore(program.fiscalYear, fiscalYear))) &&
        started &&
        !!enrollment?.enrollmentId &&
        program?.fiscalYear !== fiscalYear &&
        program?.state !== 'DISCONTINUED' &&
        !fiscalYearOver(fiscalYear, input.now) &&
        !continuedFrom.has(key);
      entries.set(key, {
        programId,
        programName: program?.name ?? fallbackName ?? programId,
        fiscalYear,
        requiresEligibility,
        ...(invitation && { invitationId: invitation._id, invitationState: invitation.state }),
        enrollmentStatus,
        status: enrollmentStatus ? enrollmentStatusLabel(enrollmentStatus, { started, viewerIsAdmin: isAdmin }) : EnrollmentStatusLabels.INVITED,
        actions: canEnroll ? ['ENROLL'] : continues ? ['CONTINUE'] : [],
        ...(canEnroll && link && { getStartedUrl: link }),
        ...(continues && { continueUrl: enrollmentPageUrl(input.portalBaseUrl, enrollment!.enrollmentId!) }),
      });
    };

    for (const invitation of input.invitations) {
      if (invitation.locationId !== location._id || invitation.state === 'REVOKED') continue;
      const program = input.programs.get(invitation.programId);
      const enrollable = enrollableNow(program, invitation.fiscalYear, input.now);
      // A closed or discontinued program, or an invitation of another fiscal year or of one that is over, only stays
      // on the overview where the location has an enrollment in it.
      if (!enrollable && !enrollments.has(entryKey(invitation.programId, invitation.fiscalYear))) continue;
      // Its link as the portal's address is now (PORTAL_BASE_URL may have changed since it was issued).
      add(invitation.programId, invitation.fiscalYear, invitation.programName, enrollable, getStartedUrl(input.portalBaseUrl, invitation), invitation);
    }
    for (const program of openPrograms) {
      if (continuing.has(entryKey(program._id, program.fiscalYear))) continue;
      const link = getStartedUrl(input.portalBaseUrl, { programId: program._id, locationId: location._id, fiscalYear: program.fiscalYear });
      add(program._id, program.fiscalYear, program.name, true, link);
    }
    // An enrollment with neither (one the rollover continued into the program's new year is not invited again): Enroll
    // acts on it as on any other (Continue while Action required), so it is offered where the program takes it now.
    for (const enrollment of input.enrollments) {
      if (enrollment.locationId !== location._id) continue;
      const { programId, fiscalYear } = enrollment;
      const link = getStartedUrl(input.portalBaseUrl, { programId, locationId: location._id, fiscalYear });
      add(programId, fiscalYear, undefined, enrollableNow(input.programs.get(programId), fiscalYear, input.now), link);
    }

    const programs = [...entries.values()].sort(
      // Names are not unique: the id last, or two programs of one name swap between reads.
      (a, b) => a.programName.localeCompare(b.programName) || a.fiscalYear.localeCompare(b.fiscalYear) || a.programId.localeCompare(b.programId),
    );
    return { locationId: location._id, legalName: location.legalName, country: location.country, programs };
  });
}

/**
 * Whether Enroll has started the enrollment: its view says so (`started`), or, on a row stored before the view kept
 * it, its status is one only a started enrollment reaches (STARTED_STATUSES), as the view's write reads an event.
 */
function wasStarted(enrollment: { status: EnrollmentStatus; started?: boolean } | undefined): boolean {
  return !!enrollment && (!!enrollment.started || STARTED_STATUSES.includes(enrollment.status));
}
