import {
  decisionFor,
  decisionReasons,
  EligibilityDetermined,
  EnrollmentEvent,
  EnrollmentIneligible,
  keepDecision,
  LogPosition,
  ProgramSnapshot,
} from '@lib/contracts';
import { BatchLoader, modelLoader, upsertIfChanged } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { invitationId } from '../invitation-ids';
import { enrollableNow, STARTED_STATUSES } from '../invitation-rules';
import { EligibilityDecisionView, SetAsideDecision } from './eligibility-decision.schema';
import { EnrollmentStatusView } from './enrollment-status.schema';
import { DecisionsReadFor, OPEN_PROGRAMS_ORDER, ProgramView } from './program-view.schema';


/** This service's views of other services' facts: eligibility decisions, programs and enrollment statuses. */
@Injectable()
export class ViewsRepository {
  /** Handlers running at the same time read each view with one query. */
  private readonly decisionLoader: BatchLoader<string, EligibilityDecisionView>;
  private readonly programLoader: BatchLoader<string, ProgramView>;
  private readonly enrollmentLoader: BatchLoader<string, EnrollmentStatusView>;

  constructor(
    @InjectModel(EligibilityDecisionView.name) private readonly decisions: Model<EligibilityDecisionView>,
    @InjectModel(ProgramView.name) private readonly programs: Model<ProgramView>,
    @InjectModel(EnrollmentStatusView.name) private readonly enrollments: Model<EnrollmentStatusView>,
  ) {
    this.decisionLoader = modelLoader(this.decisions);
    this.programLoader = modelLoader(this.programs);
    this.enrollmentLoader = modelLoader(this.enrollments);
  }

  /**
   * Keeps the decision as `keepDecision` says (a later one wins; while the location is not known, another partner's is
   * set aside in `otherPartners` rather than lost; once it is known as the decision's partner's, that partner's latest
   * wins). Returns the invitation id.
   */
  async recordDecision(decision: EligibilityDetermined, decidedAt: Date, eventId: string, ownerConfirmed = false, position?: LogPosition): Promise<string> {
    const id = invitationId(decision);
    const { programId, locationId, fiscalYear, partnerId, eligible } = decision;
    const incoming = { partnerId, eligible, reasons: decisionReasons(decision.reasons), decidedAt, eventId, ...(position && { position }) };
    await this.keepDecision(id, { programId, locationId, fiscalYear }, incoming, ownerConfirmed);
    return id;
  }

  /**
   * Locations identity has just made known as `partnerId`'s: where a decision of theirs was set aside for a later one
   * naming another partner (recorded while they were not known), the partner's own becomes the decision, as if it had
   * arrived now. The callers then reconcile the partner's decisions of those locations.
   */
  async confirmOwner(partnerId: string, locationIds: string[]): Promise<void> {
    const locations = new Set(locationIds);
    const rows = await this.decisions.find({ 'otherPartners.partnerId': partnerId }, { _id: 1, locationId: 1 }).lean<EligibilityDecisionView[]>();
    for (const row of rows.filter((r) => locations.has(r.locationId))) await this.confirmOwnerOf(row._id, partnerId);
  }

  /** The same for one decision (by invitation id): the partner's own set aside there, if any, becomes the decision. */
  async confirmOwnerOf(id: string, partnerId: string): Promise<void> {
    await upsertIfChanged<EligibilityDecisionView>(this.decisions.collection, id, (stored) => {
      const own = stored?.otherPartners?.find((d) => d.partnerId === partnerId);
      return own ? nextDecisions(stored!, own, true) : null;
    });
  }

  private async keepDecision(
    id: string,
    key: Pick<EligibilityDecisionView, 'programId' | 'locationId' | 'fiscalYear'>,
    incoming: SetAsideDecision,
    ownerConfirmed: boolean,
  ): Promise<void> {
    await upsertIfChanged<EligibilityDecisionView>(this.decisions.collection, id, (stored) =>
      stored ? nextDecisions(stored, incoming, ownerConfirmed) : { ...key, ...incoming, otherPartners: [] },
    );
  }

  /**
   * The decision of an invitation id; with `partnerId` (the invitation's partner), the one that counts for that partner
   * (decisionFor): the kept one when it names them, else theirs set aside while the location was not known, else none.
   */
  async decision(id: string, partnerId?: string): Promise<EligibilityDecisionView | null> {
    const stored = (await this.decisionLoader.load(id)) ?? null;
    if (!stored || partnerId === undefined || stored.partnerId === partnerId) return stored;
    const own = decisionFor(stored, stored.otherPartners, partnerId);
    return own ? { ...stored, ...own, otherPartners: [] } : null;
  }

  /**
   * Ids of the decisions of a program for one fiscal year (the program's current one: the invitations that may
   * change when the program does; those of other years are never issued or delivered).
   */
  async decisionIdsOfProgram(programId: string, fiscalYear: string): Promise<string[]> {
    const rows = await this.decisions.find({ programId, fiscalYear }, { _id: 1 }).sort({ _id: 1 }).lean();
    return rows.map((row) => row._id);
  }

  /**
   * Ids of the eligible decisions of these locations of a partner that lead to an Enroll accepting at `now`
   * (enrollableAt: their program OPEN in that fiscal year, the year not over): the invitations the locations, once
   * known, may issue. Decisions of other years, of closed programs, and of programs not known yet, are left out.
   */
  async enrollableDecisionIds(partnerId: string, locationIds: string[], now: Date): Promise<string[]> {
    const rows = await this.decisions
      .find(
        { partnerId, eligible: true, locationId: { $in: locationIds } },
        { _id: 1, programId: 1, fiscalYear: 1 },
      )
      .sort({ _id: 1 })
      .lean<Array<{ _id: string; programId: string; fiscalYear: string }>>();
    return this.enrollableAt(rows, now);
  }

  /** The latest decisions of a partner's locations (the overview: whether an ineligible location is eligible again). */
  async decisionsFor(partnerId: string, locationIds: string[]): Promise<EligibilityDecisionView[]> {
    return this.decisions
      .find({ partnerId, locationId: { $in: locationIds } }, { programId: 1, locationId: 1, fiscalYear: 1, eligible: 1, eventId: 1, decidedAt: 1, position: 1 })
      .lean<EligibilityDecisionView[]>();
  }

  async recordProgram(program: ProgramSnapshot): Promise<void> {
    await upsertIfChanged<ProgramView>(this.programs.collection, program.programId, (stored) => {
      if (stored && stored.revision >= program.revision) return null;
      // What the rules read of a program changed (or not known before).
      const changes =
        !stored || stored.state !== program.state || stored.fiscalYear !== program.fiscalYear || stored.requiresEligibility !== program.requiresEligibility;
      return {
        name: program.name,
        fiscalYear: program.fiscalYear,
        requiresEligibility: program.requiresEligibility,
        state: program.state,
        revision: program.revision,
        ...(changes && { decisionsChangedAt: program.revision }),
      };
    });
  }

  /** Its decisions were read through with the program as `read`: kept only while the view still says so. */
  async programDecisionsRead(programId: string, read: DecisionsReadFor): Promise<void> {
    const { state, fiscalYear, requiresEligibility } = read;
    await this.programs.updateOne({ _id: programId, state, fiscalYear, requiresEligibility }, { $set: { decisionsReadFor: read } });
  }

  async program(programId: string): Promise<ProgramView | null> {
    return (await this.programLoader.load(programId)) ?? null;
  }

  /**
   * Ids of those invitations that lead to an Enroll that accepts at `now` (enrollableNow: their program OPEN in that
   * fiscal year, the year not over): no other is delivered, asks anyone or waits again when its admins come or go, so
   * a user event need not reconcile the invitations of a closed program or a year past (they stay as they are).
   */
  async enrollableAt(invitations: Array<{ _id: string; programId: string; fiscalYear: string }>, now: Date): Promise<string[]> {
    if (!invitations.length) return [];
    const programs = await this.programsById([...new Set(invitations.map((invitation) => invitation.programId))]);
    return invitations.filter((invitation) => enrollableNow(programs.get(invitation.programId), invitation.fiscalYear, now)).map((invitation) => invitation._id);
  }

  async programsById(programIds: string[]): Promise<Map<string, ProgramView>> {
    const rows = await this.programs.find({ _id: { $in: programIds } }).lean<ProgramView[]>();
    return new Map(rows.map((row) => [row._id, row]));
  }

  /** The programs in state OPEN (any eligibility rule), each with its current fiscal year: where a notice may be listed. */
  async programsTakingEnrollments(): Promise<Array<Pick<ProgramView, '_id' | 'fiscalYear'>>> {
    return this.programs.find({ state: 'OPEN' }, { _id: 1, fiscalYear: 1 }).lean<Array<Pick<ProgramView, '_id' | 'fiscalYear'>>>();
  }

  /** The current fiscal years of the programs taking enrollments (OPEN): the only years an invitation is delivered in. */
  async currentFiscalYears(): Promise<string[]> {
    return [...new Set((await this.programsTakingEnrollments()).map((program) => program.fiscalYear))];
  }

  /** Open programs (no eligibility needed) that accept enrollments now. */
  async openPrograms(): Promise<ProgramView[]> {
    return this.programs.find({ requiresEligibility: false, state: 'OPEN' }).sort(OPEN_PROGRAMS_ORDER).lean<ProgramView[]>();
  }

  /**
   * Keeps the enrollment status with the highest revision, in whatever order events arrive, with:
   *  - `completed` as the event of the highest revision says it (the enrollment service takes it back when an early
   *    renewal is undone at year end). An event of a producer that predates that field marks it, for good, when it
   *    has ENROLLED in `status` or `previousStatus`, unless it is older than an event that said it.
   *  - `continued` (made by the rollover) from any event with `fromFiscalYear`, until an event of a later revision
   *    tells that Enroll started it again after INELIGIBLE (`previousStatus` INELIGIBLE, no `fromFiscalYear`): then it
   *    is no longer the rollover's continuation (`notContinuedFrom`: that revision; older events do not mark it again).
   *  - `madeByRollover`: from any event with `fromFiscalYear`, never unset (the year it continued stays rolled over).
   *  - `endedBy`: the eligibility decision the enrollment's latest INELIGIBLE event names as the one that ended it
   *    (null: none named), kept when Enroll starts it again. An eligible decision not later than that one does not
   *    invite again (nextTransition): the enrollment service had seen it replaced, the newer one may still be on its
   *    way here.
   * Returns the invitation id of its key, and whether the enrollment was completed before this event or is now.
   */
  async recordEnrollment(enrollment: EnrollmentEvent, type?: string): Promise<{ id: string; completed: boolean }> {
    const id = invitationId(enrollment);
    const started = type === 'EnrollmentStarted' || STARTED_STATUSES.includes(enrollment.status) || !!enrollment.fromFiscalYear;
    const stated = enrollment.completed !== undefined;
    const enrolledOnce = enrollment.status === 'ENROLLED' || enrollment.previousStatus === 'ENROLLED';
    const restarted = enrollment.previousStatus === 'INELIGIBLE' && !enrollment.fromFiscalYear;
    const ending = enrollment.status === 'INELIGIBLE' ? (enrollment as EnrollmentIneligible).decision : undefined;
    const endedBy = ending
      ? { eventId: ending.eventId, decidedAt: new Date(ending.decidedAt), ...(ending.position && { position: { partition: ending.position.partition, offset: ending.position.offset } }) }
      : null;
    let completed = false;
    await upsertIfChanged<EnrollmentStatusView>(this.enrollments.collection, id, (stored) => {
      const newest = !stored || stored.revision < enrollment.revision;
      const set: Record<string, unknown> = {};
      if (newest) {
        Object.assign(set, {
          enrollmentId: enrollment.enrollmentId,
          programId: enrollment.programId,
          partnerId: enrollment.partnerId,
          locationId: enrollment.locationId,
          fiscalYear: enrollment.fiscalYear,
          status: enrollment.status,
          revision: enrollment.revision,
          ...(stated && { completed: enrollment.completed, completedStated: true }),
          // Kept past a restart by Enroll: the decision it names is still the one the enrollment service had seen last.
          ...(enrollment.status === 'INELIGIBLE' && { endedBy }),
        });
        // Also when no rollover event has arrived yet: an older one arriving after this does not mark it again.
        if (restarted) Object.assign(set, { notContinuedFrom: enrollment.revision, ...(stored?.continued && { continued: false }) });
      }
      if (!stated && enrolledOnce && !stored?.completed && (newest || !stored?.completedStated)) set.completed = true;
      if (enrollment.fromFiscalYear && !stored?.continued && enrollment.revision > (stored?.notContinuedFrom ?? 0)) set.continued = true;
      // Made by the rollover once, whatever became of it since: the year it came from was rolled over (overview).
      if (enrollment.fromFiscalYear && !stored?.madeByRollover) set.madeByRollover = true;
      if (started && !stored?.started) set.started = true;
      completed = !!stored?.completed || set.completed === true;
      return Object.keys(set).length ? set : null;
    });
    return { id, completed };
  }

  async enrollmentStatus(id: string): Promise<EnrollmentStatusView | null> {
    return (await this.enrollmentLoader.load(id)) ?? null;
  }

  async enrollmentStatusesFor(partnerId: string, locationIds: string[]): Promise<EnrollmentStatusView[]> {
    return this.enrollments.find({ partnerId, locationId: { $in: locationIds } }).lean<EnrollmentStatusView[]>();
  }
}

/** The fields to set after `incoming` (keepDecision on the stored decision and those set aside), or null: none. */
function nextDecisions(stored: EligibilityDecisionView, incoming: SetAsideDecision, ownerConfirmed: boolean): Record<string, unknown> | null {
  const { partnerId, eligible, reasons, decidedAt, eventId, position } = stored;
  const kept = { partnerId, eligible, reasons, decidedAt, eventId, ...(position && { position }) };
  const next = keepDecision({ kept, others: stored.otherPartners ?? [] }, incoming, ownerConfirmed);
  return next && { ...next.kept, otherPartners: next.others };
}
