import { AccessPolicy, Actor } from '@lib/access';
import { EnrollmentStatus, fiscalYearBefore, fiscalYearOver, judgedAt, payoutRulesFor } from '@lib/contracts';
import { isDuplicateKey, OutboxEntry } from '@lib/messaging';
import { Clock, IdempotentRequest, Principal, ProblemException, Problems } from '@lib/platform';
import { HttpStatus, Injectable } from '@nestjs/common';
import { enrollmentId } from '../../common/ids';
import { takesStart } from '../../programs/program-rules';
import { Program } from '../../programs/program.schema';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ViewsRepository } from '../../views/views.repository';
import { servesLocation } from '../../views/views.schemas';
import { Enrollment } from '../enrollment.schema';
import { agreementInactive, locationNotEligible, programMovedOn, programNotOpen } from '../start-refusals';
import { EnrollmentEvents, EnrollmentEventType, newReasonType, transitionType } from '../enrollment-events';
import { bankNoLongerServes, describeMissing, payoutGaps } from '../enrollment-rules';
import { changedEnrollment, continuedAlready, EnrollmentChanges, EnrollmentsRepository } from '../enrollments.repository';
import { enrollmentYearEnded, programYearEnded } from '../fiscal-year-ended';
import { defaultSettling, PayoutFacts, profileFacts } from '../payout-facts';
import { FollowValidation } from './follow-validation.use-case';
import { RecheckStart } from './recheck-start.use-case';
import { WithdrawBankChoice } from './withdraw-bank-choice.use-case';

const ATTEMPTS = 8;

export interface EnrollAnswer {
  enrollment: Enrollment;
  /** True when this call started the enrollment (201). */
  started: boolean;
}

/**
 * Enroll, and Continue (enrolling again, or POST /refresh): the location's Incentives admin only.
 *  - Starting (no enrollment yet, only an invitation, or INELIGIBLE before): the program must be OPEN and, unless
 *    it is open to all, the location eligible for the program's fiscal year.
 *  - The proposal is the location's default bank profile (or the one the admin chose, which then sticks) and the
 *    location's tax profile; what is missing under the program's payout rules decides the status: INVITED with
 *    next action SUBMIT, or ACTION_REQUIRED with next action CONTINUE.
 *  - A bank profile chosen (`bankProfileId`) must be the partner's and serve the location (its `locationIds` name it
 *    or '*'; one whose events never said serves all): 400 on `bankProfileId` otherwise. A default serves its location
 *    by construction (payout-profiles refuses any other). A choice kept from before that no longer serves the
 *    location (narrowed since) is withdrawn instead of proposed (WithdrawBankChoice: ACTION_REQUIRED with the reason;
 *    the next Continue proposes the default); so is a choice just written if the profile was narrowed meanwhile
 *    (recheckChoice).
 *  - A submitted enrollment is re-checked against its profiles' validation; choosing another bank profile is
 *    possible only while it is ACTION_REQUIRED (it goes back to the proposal, to be submitted again).
 *  - Once the enrollment's fiscal year is over (by the Clock the rollover reads too), nothing is started, and only an
 *    ENROLLED enrollment is re-checked: the rollover continues or expires the others (409 `fiscal-year-ended`).
 * Enrolling twice returns the same enrollment (deterministic id per program, location, fiscal year).
 *
 * Starting reads the program and the eligibility view before its write, while a discontinuation (the sweep after
 * ProgramUpdated) and an ineligible decision (its handler) write theirs and then read the enrollments: each could
 * miss the other. So after a starting write the program and the view are read again (each side writes before it
 * reads: one of the two sees the other): discontinued now, or the newest decision for the year not eligible, ends
 * the enrollment as the sweep or the decision ends it, and the answer is the refusal that check gives (409, 422).
 */
@Injectable()
export class EnrollLocation {
  constructor(
    private readonly policy: AccessPolicy,
    private readonly programs: ReadPrograms,
    private readonly views: ViewsRepository,
    private readonly enrollments: EnrollmentsRepository,
    private readonly facts: PayoutFacts,
    private readonly events: EnrollmentEvents,
    private readonly follow: FollowValidation,
    private readonly recheck: RecheckStart,
    private readonly withdraw: WithdrawBankChoice,
    private readonly clock: Clock,
  ) {}

  /** `idempotency`: the request's Idempotency-Key and fingerprint, when it sent a key (Enrollment.lastRequest). */
  async enroll(
    principal: Principal,
    input: { programId: string; locationId: string; bankProfileId?: string },
    expectedVersion?: number,
    idempotency?: IdempotentRequest,
  ): Promise<EnrollAnswer> {
    const actor = await this.policy.actor(principal);
    await this.policy.requireRole(actor, input.locationId, 'INCENTIVES_ADMIN', 'enroll it');
    const program = await this.programs.find(input.programId);
    if (!program) throw Problems.notFound(`Program ${input.programId}`);
    const id = enrollmentId({ programId: program._id, locationId: input.locationId, fiscalYear: program.fiscalYear });
    return this.withRetries(actor, program, id, input.locationId, input.bankProfileId, expectedVersion, idempotency);
  }

  async refresh(principal: Principal, id: string, input: { bankProfileId?: string }, expectedVersion?: number): Promise<EnrollAnswer> {
    const actor = await this.policy.actor(principal);
    const existing = await this.enrollments.findForPartner(actor.partnerId, id);
    if (!existing) throw Problems.notFound(`Enrollment ${id}`);
    await this.policy.requireRole(actor, existing.locationId, 'INCENTIVES_ADMIN', 'continue its enrollment');
    const program = await this.programs.find(existing.programId);
    if (!program) throw Problems.notFound(`Program ${existing.programId}`);
    return this.withRetries(actor, program, id, existing.locationId, input.bankProfileId, expectedVersion);
  }

  /**
   * `expectedVersion`: the If-Match the client sent (optional); a stale one is 412, whichever attempt reads it, unless
   * the enrollment is as this very request's write left it (`idempotency`: its retry, whose answer was lost).
   */
  private async withRetries(
    actor: Actor,
    program: Program,
    id: string,
    locationId: string,
    bankProfileId?: string,
    expectedVersion?: number,
    idempotency?: IdempotentRequest,
  ): Promise<EnrollAnswer> {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const existing = await this.enrollments.findForPartner(actor.partnerId, id);
      if (expectedVersion !== undefined) checkVersion(existing, expectedVersion, idempotency);
      const answer = await this.apply(actor, program, id, locationId, existing, bankProfileId, idempotency);
      if (!answer) continue;
      // Also an enrollment started before but never completed: the request that started it may have died between its
      // write and its recheck, and the discontinuation's sweep or the decision's handler, which run once, missed it.
      const unsettled = !answer.enrollment.enrolledAt && !answer.enrollment.rollover;
      const checked = answer.started ? await this.recheckStart(answer) : unsettled ? await this.recheckStart(answer, program) : answer;
      const chosen = bankProfileId ? await this.recheckChoice(checked) : checked;
      return chosen.enrollment.version !== existing?.version ? this.recheckProposal(chosen) : chosen;
    }
    throw Problems.busy('The enrollment kept changing while it was updated; try again.');
  }

  /** A bank profile the admin chose: one of the partner's (as this service's view knows it) that serves the location. */
  private async checkChoice(partnerId: string, locationId: string, bankProfileId: string): Promise<void> {
    const chosen = await this.facts.bankProfile(partnerId, bankProfileId);
    if (!chosen) throw Problems.field('bankProfileId', 'must be a bank profile of your partner (known once payout-profiles has published it)');
    if (!servesLocation(chosen, locationId)) {
      throw Problems.field(
        'bankProfileId',
        // Not which locations it serves: the caller may not be one who may read the profile (payout-profiles decides).
        `must be a bank profile that serves location ${locationId} (an Incentives admin of the locations it serves and ` +
          `of ${locationId} can add ${locationId} to the profile's locationIds)`,
      );
    }
  }

  private async apply(
    actor: Actor,
    program: Program,
    id: string,
    locationId: string,
    existing: Enrollment | null,
    bankProfileId?: string,
    idempotency?: IdempotentRequest,
  ): Promise<EnrollAnswer | null> {
    if (existing && (existing.status === 'DISCONTINUED' || existing.status === 'EXPIRED')) {
      throw Problems.conflict(`This enrollment is ${existing.status.toLowerCase()}; it cannot be continued.`, { enrollmentStatus: existing.status });
    }
    // One "now" for the year-end checks and the decision below: read twice, an Enroll checked at 23:59:59.995 on June 30
    // could start (and date) the year's enrollment in the next one.
    const now = this.clock.now();
    // Continued into the next fiscal year: this one is history (the next one is where the admin acts). Continue answers
    // it as it is; another bank profile is refused, as Submit is.
    if (existing?.rollover) {
      if (bankProfileId && bankProfileId !== existing.bankProfileId) throw continuedAlready(existing.rollover, existing.fiscalYear, now, 'given another bank profile');
      return { enrollment: existing, started: false };
    }
    const starting = !existing || !existing.evaluatedAt || existing.status === 'INELIGIBLE';
    const fiscalYear = existing?.fiscalYear ?? program.fiscalYear;
    if (fiscalYearOver(fiscalYear, now)) {
      if (!existing || (starting && fiscalYear === program.fiscalYear)) throw programYearEnded(program);
      if (starting || existing.status !== 'ENROLLED') throw enrollmentYearEnded(existing, starting ? 'started' : 'continued');
    }
    // Not started in a year its program has moved past, as Enroll and the invitations service start none there: one of
    // such a year (an invitation only, or ended INELIGIBLE) stays where it is. A later year's (the rollover's
    // continuation, the program not moved to it yet) starts again as before.
    if (starting && existing && fiscalYearBefore(existing.fiscalYear, program.fiscalYear)) throw programMovedOn(existing, program);
    // Started before (evaluated, or completed) and ended INELIGIBLE: a program CLOSED since starts it again (takesStart).
    if (starting) await this.checkCanStart(program, fiscalYear, locationId, actor.partnerId, !!(existing?.evaluatedAt || existing?.enrolledAt));

    const submitted = existing && !starting && existing.submittedAt ? existing : undefined;
    if (bankProfileId) {
      // What the enrollment allows first: a bank profile fixed for serving the location would then be refused for that.
      if (submitted && bankProfileId !== submitted.bankProfileId && submitted.status !== 'ACTION_REQUIRED') throw bankFixedWhileSubmitted(submitted);
      await this.checkChoice(actor.partnerId, locationId, bankProfileId);
    }
    if (submitted && (!bankProfileId || bankProfileId === submitted.bankProfileId)) {
      const followed = await this.follow.apply(submitted, payoutRulesFor(program, submitted.fiscalYear));
      return followed && { enrollment: followed, started: false };
    }
    return this.propose(actor, program, id, locationId, existing, starting, bankProfileId, { now, idempotency });
  }

  /**
   * A decision naming another partner than the location's (kept while identity had not told of the location yet,
   * until its own partner's replaces it) does not make the location eligible.
   */
  private async checkCanStart(program: Program, fiscalYear: string, locationId: string, partnerId: string, startedBefore: boolean): Promise<void> {
    if (!takesStart(program, startedBefore)) throw programNotOpen(program);
    if (!(await this.views.agreementActive(partnerId))) throw agreementInactive(partnerId);
    if (!program.requiresEligibility) return;
    const ours = await this.views.partnersEligibility(partnerId, program._id, locationId, fiscalYear);
    if (!ours?.eligible) throw locationNotEligible(program._id, fiscalYear, locationId, ours?.reasons);
  }

  /** After a starting write (see RecheckStart): ended since the checks, the caller gets the refusal they give. */
  private async recheckStart(answer: EnrollAnswer, program?: Program): Promise<EnrollAnswer> {
    const check = await this.recheck.execute(answer.enrollment, program);
    if (check.ended === null) return check.renamedTo ? { ...answer, enrollment: { ...answer.enrollment, programName: check.renamedTo } } : answer;
    if (check.enrollment?.status === check.ended) {
      const { programId, locationId, fiscalYear } = answer.enrollment;
      throw check.ended === 'DISCONTINUED' ? programNotOpen(check.program) : locationNotEligible(programId, fiscalYear, locationId, check.reasons);
    }
    return check.enrollment ? { ...answer, enrollment: check.enrollment } : answer;
  }

  /**
   * The choice was checked against the profile view before its write, while the event that narrows the profile's
   * locationIds writes the view and then reads the enrollments keeping it (RecordProfileChange): each could miss the
   * other. So after the write the view is read again (each side writes before it reads: one of the two sees the
   * other); a profile no longer serving the location is withdrawn at once, and the answer is where it ends up.
   */
  private async recheckChoice(answer: EnrollAnswer): Promise<EnrollAnswer> {
    let current = answer.enrollment;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      if (!current.bankProfileId) break;
      const bank = profileFacts(await this.facts.bankProfile(current.partnerId, current.bankProfileId));
      const written = await this.withdraw.apply(current, bank);
      if (written) return { ...answer, enrollment: written };
      const fresh = await this.enrollments.reload(current);
      if (!fresh) break;
      current = fresh;
    }
    return { ...answer, enrollment: current };
  }

  /**
   * The proposal was evaluated from the profile views before its write, while a profile's event writes the view and
   * then reads the enrollments proposing the profile (RecordProfileChange): one handled in between found this
   * enrollment not proposing it yet (its first write, a new choice, a new default) and left it, SUBMIT proposed with a
   * profile rejected since. So after a write the views are read again, as that handler would have read them
   * (reevaluate: a profile rejected or expired since makes it ACTION_REQUIRED, with its event); the answer is where
   * it ends up.
   */
  private async recheckProposal(answer: EnrollAnswer): Promise<EnrollAnswer> {
    const current = (await this.reevaluate(answer.enrollment)) ?? (await this.enrollments.reload(answer.enrollment));
    return current ? { ...answer, enrollment: current } : answer;
  }

  /**
   * A proposal evaluated again when a profile it proposes changes (RecordProfileChange), as its admin's Continue would:
   * an enrollment started and not submitted (`INVITED` or `ACTION_REQUIRED`), of a year not over, not rolled over,
   * its bank profile not withdrawn (that one waits for its admin's Continue). Only while it would propose the same
   * profiles: a profile rejected or expired since makes it `ACTION_REQUIRED` with what is missing
   * (EnrollmentActionRequired), one complete again `INVITED` (next action Submit). A proposal that would change (the
   * location's default or tax profile replaced) is left as it is for its admin: Submit refuses it (`proposal-changed`)
   * until Continue has shown the new one. So is one whose default is still settling. Null: it changed meanwhile.
   */
  async reevaluate(existing: Enrollment): Promise<Enrollment | null> {
    const proposal =
      !existing.submittedAt &&
      existing.evaluatedAt !== undefined &&
      (existing.status === 'INVITED' || existing.status === 'ACTION_REQUIRED') &&
      !existing.rollover &&
      !existing.bankWithdrawn &&
      !fiscalYearOver(existing.fiscalYear, this.clock.now());
    if (!proposal) return existing;
    const program = await this.programs.find(existing.programId);
    if (!program || program.state === 'DISCONTINUED') return existing;
    try {
      const actor = { partnerId: existing.partnerId, userId: existing.startedBy ?? '' };
      const answer = await this.propose(actor, program, existing._id, existing.locationId, existing, false, undefined, { sameProfiles: true });
      return answer && answer.enrollment;
    } catch (error) {
      // The default is changing (DEFAULT_SETTLE_MS): left as it is; its admin's Continue or Submit reads it as it is then.
      if (error instanceof ProblemException && error.problemType === 'busy') return existing;
      throw error;
    }
  }

  /** The proposal phase: evaluate what is missing now, and write it (with its event when the status changes). */
  private async propose(
    actor: Pick<Actor, 'partnerId' | 'userId'>,
    program: Program,
    id: string,
    locationId: string,
    existing: Enrollment | null,
    starting: boolean,
    bankProfileId?: string,
    // `now`: the caller's, which its year-end check read (Enroll, Continue); the Clock's otherwise. `idempotency`: an
    // Enroll's Idempotency-Key, kept with what it writes (Enrollment.lastRequest).
    { sameProfiles = false, now = this.clock.now(), idempotency }: { sameProfiles?: boolean; now?: Date; idempotency?: IdempotentRequest } = {},
  ): Promise<EnrollAnswer | null> {
    const keepChoice = !starting && existing?.bankChosen && !bankProfileId ? existing.bankProfileId : undefined;
    const chosen = bankProfileId ?? keepChoice;
    const proposal = await this.facts.proposal(actor.partnerId, locationId, chosen);
    if (proposal.defaultSettling) throw defaultSettling();
    if (sameProfiles && (proposal.bankProfileId !== existing?.bankProfileId || proposal.taxProfileId !== existing?.taxProfileId)) {
      return { enrollment: existing!, started: false };
    }
    // The kept choice no longer serves the location (narrowed since it was chosen): withdrawn, not proposed. Usually the
    // profile's event has done this already; this is the moment between its view write and its enrollment writes.
    if (keepChoice && bankNoLongerServes(existing!, proposal.bank)) {
      const withdrawn = await this.withdraw.apply(existing!, proposal.bank);
      return withdrawn && { enrollment: withdrawn, started: false };
    }
    // A tax profile's expiry is judged within the enrollment's year (judgedAt).
    const at = judgedAt(existing?.fiscalYear ?? program.fiscalYear, now);
    const missing = payoutGaps(payoutRulesFor(program, existing?.fiscalYear ?? program.fiscalYear), proposal.bank, proposal.tax, { at, strict: false });
    const status: EnrollmentStatus = missing.length ? 'ACTION_REQUIRED' : 'INVITED';
    const fields: EnrollmentChanges = {
      // The catalog's name when it is written first; a rename reaches it from the program's event (renameProgram), not
      // from a request that read the program before the rename and writes after it (a first write's recheck, which
      // reads the program after it, renames what this wrote: RecheckStart).
      ...((!existing || existing.programName === undefined) && { programName: program.name }),
      status,
      missing,
      reasons: missing.map(describeMissing),
      ...(proposal.bankProfileId && { bankProfileId: proposal.bankProfileId }),
      ...(proposal.taxProfileId && { taxProfileId: proposal.taxProfileId }),
      bankChosen: chosen !== undefined,
      evaluatedAt: now,
      ...(starting && { startedAt: now, startedBy: actor.userId }),
      // The version this write makes: a start under If-Match "0" (none) too, whose retry then meets its own write.
      ...(idempotency && { lastRequest: { fingerprint: idempotency.fingerprint, version: existing ? existing.version + 1 : 1, ...(starting && { started: true }) } }),
    };

    if (!existing) {
      const enrollment: Enrollment = {
        _id: id,
        programId: program._id,
        partnerId: actor.partnerId,
        locationId,
        fiscalYear: program.fiscalYear,
        ...(fields as Omit<Enrollment, '_id' | 'programId' | 'partnerId' | 'locationId' | 'fiscalYear' | 'version' | 'createdAt' | 'updatedAt'>),
        version: 1,
        createdAt: now,
        updatedAt: now,
      };
      try {
        await this.enrollments.insert(enrollment, this.startEvents(enrollment));
      } catch (error) {
        if (isDuplicateKey(error)) return null; // enrolled concurrently: read it and continue it
        throw error;
      }
      this.events.committed();
      return { enrollment, started: true };
    }

    const unset: Array<keyof Enrollment> = [];
    if (!proposal.bankProfileId && existing.bankProfileId) unset.push('bankProfileId');
    if (!proposal.taxProfileId && existing.taxProfileId) unset.push('taxProfileId');
    // Back to the proposal (another bank profile chosen while ACTION_REQUIRED): submitted again later. `enrolledAt`
    // stays: an enrollment ENROLLED once keeps its year (an ineligible decision does not end it; the rollover decides).
    for (const field of ['submittedAt', 'submittedBy', 'validated'] as const) if (existing[field]) unset.push(field);
    // A withdrawn bank profile (bankWithdrawn): this proposal (the default, or another choice) takes its place.
    if (existing.bankWithdrawn) unset.push('bankWithdrawn');
    // Started again after INELIGIBLE: a new start, not what it was. A continuation the year-end review ended (renewed by
    // an early run, ENROLLED then) is neither completed in its year nor the rollover's continuation any more: kept, its
    // `enrolledAt` would make it count as completed (no eligibility check at Submit, an ineligible decision ignored,
    // the rollover continuing it unsubmitted), and `renewedFrom` would let a rerun of the review end it again.
    if (existing.status === 'INELIGIBLE') for (const field of ['enrolledAt', 'renewedFrom', 'renewedAs', 'renewedEarly'] as const) if (existing[field]) unset.push(field);
    const unchanged =
      !starting &&
      unset.length === 0 &&
      existing.status === status &&
      existing.bankProfileId === proposal.bankProfileId &&
      existing.taxProfileId === proposal.taxProfileId &&
      existing.bankChosen === (chosen !== undefined) &&
      JSON.stringify(existing.missing) === JSON.stringify(missing);
    if (unchanged) return { enrollment: existing, started: startedByRetried(existing, idempotency) };

    const next = changedEnrollment(existing, fields, unset);
    let events: OutboxEntry[];
    if (starting) {
      events = this.startEvents(next, existing.status);
    } else {
      // A status change, or a new reason while ACTION_REQUIRED (Continue found something else missing).
      const type = transitionType(existing.status, status) ?? newReasonType(existing, { status, reasons: fields.reasons! });
      events = type ? [this.events.event(type, next, { previousStatus: existing.status })] : [];
    }
    const written = await this.enrollments.update(existing, fields, events, unset);
    if (!written) return null;
    if (events.length) this.events.committed();
    return { enrollment: written, started: starting };
  }

  /** EnrollmentStarted, then EnrollmentActionRequired when something is missing. */
  private startEvents(enrollment: Enrollment, previousStatus?: EnrollmentStatus): OutboxEntry[] {
    const types: EnrollmentEventType[] = ['EnrollmentStarted'];
    if (enrollment.status === 'ACTION_REQUIRED') types.push('EnrollmentActionRequired');
    return types.map((type) => this.events.event(type, enrollment, { previousStatus }));
  }
}

/**
 * If-Match on Enroll or Continue: the enrollment must exist at that version (412 otherwise), or be as this very request
 * wrote it, nothing written since (`idempotency`: its retry, whose answer was lost after its write; Enrollment.lastRequest):
 * Enroll then finds nothing to change and answers it.
 */
function checkVersion(existing: Enrollment | null, expected: number, idempotency?: IdempotentRequest): void {
  if (!existing) {
    // "0" is none, as for a location's default bank profile: what the 412 below names as the current version, so a
    // client sending back the version it was told starts the enrollment.
    if (expected === 0) return;
    throw new ProblemException(
      HttpStatus.PRECONDITION_FAILED,
      'stale-version',
      'The resource has changed',
      'If-Match names a version, but there is no enrollment yet; enroll without If-Match (or with "0", none) to start one.',
      // As every 412 (OpenAPI): the current version, none (0).
      { currentVersion: 0 },
    );
  }
  if (existing.version === expected || writtenBy(existing, idempotency)) return;
  throw Problems.preconditionFailed(existing.version);
}

/** The request's own write (Enrollment.lastRequest: its Idempotency-Key's fingerprint), nothing written since; what it wrote. */
function writtenBy(existing: Enrollment, idempotency?: IdempotentRequest): Enrollment['lastRequest'] | undefined {
  const own = existing.lastRequest;
  return idempotency !== undefined && own?.fingerprint === idempotency.fingerprint && own.version === existing.version ? own : undefined;
}

/**
 * Whether this request is the retry of the Enroll that started the enrollment (its Idempotency-Key's fingerprint, and
 * nothing written since), whose stored answer is gone: it gets the first answer, 201 (SPEC 4: a retried request gets
 * the first answer), not 200 for an enrollment found as it is. One written before `started` was recorded: by its insert.
 */
function startedByRetried(existing: Enrollment, idempotency?: IdempotentRequest): boolean {
  const own = writtenBy(existing, idempotency);
  return !!own && (own.started ?? own.version === 1);
}

function bankFixedWhileSubmitted(enrollment: Enrollment): Error {
  return Problems.conflict('The enrollment is submitted: its bank profile can change only while it is Action required.', { enrollmentStatus: enrollment.status });
}
