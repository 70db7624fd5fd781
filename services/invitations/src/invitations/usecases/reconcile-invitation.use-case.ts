import { previousFiscalYear } from '@lib/contracts';
import { allDone, Clock } from '@lib/platform';
import { AccessPolicy } from '@lib/access';
import { EventOutbox } from '@lib/messaging';
import { Injectable, Logger } from '@nestjs/common';
import { CatchUpGate } from '../catch-up/catch-up-gate';
import { InvitationLock } from '../invitation-lock';
import { InvitationRecord, InvitationRepository } from '../invitation.repository';
import { invitationId as idOf } from '../invitation-ids';
import { nextTransition, Person, personOf, Transition, whyNotInviting } from '../invitation-rules';
import { ViewsRepository } from '../views/views.repository';
import { DeliverInvitation } from './deliver-invitation.use-case';
import { IssueInvitation } from './issue-invitation.use-case';
import { RevokeInvitation } from './revoke-invitation.use-case';

const MAX_ATTEMPTS = 8;
/** Invitations one event reconciles at the same time (executeAll). */
export const RECONCILED_AT_ONCE = 32;

/**
 * The single code path that moves an invitation, whatever message triggered it (decision, program, role,
 * enrollment). Every trigger first records its fact in a view, then calls this: it reads the invitation, then
 * the facts, and applies the next transition as one write guarded by the version read. A concurrent change makes
 * the write miss, and it starts over from a fresh read; so handlers of different topics running at the same time
 * cannot lose each other's facts (each writes its fact before reading the others').
 *
 * The rules are read at the Clock's now: an eligible decision of a fiscal year that is over (the program was not moved
 * to the next year yet) issues and delivers nothing. Nothing runs when a year ends; the next trigger, and every read
 * of notices and the overview, applies the date.
 *
 * Until the service has consumed the history on its input topics once (CatchUpGate, on a new database), it moves
 * nothing: the invitations are written down and reconciled on the complete views (FirstCatchUp).
 */
@Injectable()
export class ReconcileInvitation {
  private readonly logger = new Logger(ReconcileInvitation.name);

  constructor(
    private readonly invitations: InvitationRepository,
    private readonly views: ViewsRepository,
    private readonly policy: AccessPolicy,
    private readonly issue: IssueInvitation,
    private readonly deliver: DeliverInvitation,
    private readonly revoke: RevokeInvitation,
    private readonly outbox: EventOutbox,
    private readonly lock: InvitationLock,
    private readonly clock: Clock,
    private readonly gate: CatchUpGate,
  ) {}

  /**
   * Reconciles these invitations, RECONCILED_AT_ONCE at a time (each under its own lock, with its own guarded writes: a
   * handler of one event may reconcile thousands, an admin of every location of a large partner, a program opening,
   * each a few round trips), telling the broker after each group that the batch is alive. A failure fails the call
   * once the group's others are done (the message is retried: what was done is found done).
   */
  async executeAll(invitationIds: Iterable<string>, heartbeat: () => Promise<void>): Promise<void> {
    const ids = [...invitationIds];
    if (await this.gate.deferIfClosed(ids)) return;
    for (let i = 0; i < ids.length; i += RECONCILED_AT_ONCE) {
      await allDone(ids.slice(i, i + RECONCILED_AT_ONCE).map((id) => this.execute(id)));
      await heartbeat();
    }
  }

  async execute(invitationId: string): Promise<Transition> {
    if (await this.gate.deferIfClosed([invitationId])) return { kind: 'none', why: 'put off until the service has consumed the history of its input topics' };
    return this.lock.run(invitationId, () => this.reconcile(invitationId));
  }

  private async reconcile(invitationId: string): Promise<Transition> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const current = await this.invitations.load(invitationId);
      const [decision, enrollment] = await Promise.all([
        // An invitation follows its own partner's decision, never one naming another partner kept meanwhile.
        this.views.decision(invitationId, current?.partnerId),
        this.views.enrollmentStatus(invitationId),
      ]);
      const key = current ?? decision;
      if (!key) return { kind: 'none', why: 'nothing known' };
      const program = await this.views.program(key.programId);
      const now = this.clock.now();
      const inviting = !!decision?.eligible && !!program?.requiresEligibility && !whyNotInviting(decision, program, now);
      const location = inviting ? await this.policy.locationById(key.locationId) : undefined;
      const locationKnown = location?.partnerId === key.partnerId;
      const asking = inviting && locationKnown && current?.state === 'AWAITING_ADMIN' && (!!current.adminRequestPending || !!current.askedAdmins);
      const [admins, previousYear, companyAdmins] = await Promise.all([
        inviting && locationKnown ? this.admins(key.partnerId, key.locationId) : [],
        // Whether the previous year's enrollment is continued into this one (then nobody is invited).
        inviting ? this.views.enrollmentStatus(idOf({ ...key, fiscalYear: previousFiscalYear(key.fiscalYear) })) : null,
        asking ? this.companyAdmins(key.partnerId) : [],
      ]);

      const transition = nextTransition({
        invitation: current,
        decision,
        program,
        enrollmentStatus: enrollment?.status ?? null,
        enrollmentCompleted: !!enrollment?.completed,
        enrollmentContinued: !!enrollment?.continued,
        enrollmentMadeByRollover: !!enrollment?.madeByRollover,
        ...(enrollment?.endedBy && { enrollmentEndedBy: enrollment.endedBy }),
        previousYear: previousYear && { status: previousYear.status, completed: previousYear.status === 'ENROLLED' || !!previousYear.completed },
        admins,
        companyAdmins,
        locationKnown,
      }, now);
      if (transition.kind === 'none') return transition;

      let written: boolean;
      // What the events tell a reader of the program's events (notification): the revision this was decided by.
      const decidedBy = program ? { programRevision: program.revision } : {};
      const decided = { ...current!, ...decidedBy };
      switch (transition.kind) {
        case 'issue':
        case 'await-admin':
          written = await this.issue.execute({
            invitationId,
            key: { programId: key.programId, locationId: key.locationId, fiscalYear: key.fiscalYear, partnerId: key.partnerId },
            programName: program!.name,
            current,
            recipients: transition.kind === 'issue' ? transition.recipients : [],
            ...decidedBy,
          });
          break;
        case 'deliver':
          written = await this.deliver.execute(decided, transition.recipients);
          break;
        case 'admins-left':
          written = await this.issue.awaitAdminAgain(decided);
          break;
        case 'ask-admins':
          written = await this.issue.askCompanyAdmins(decided, companyAdmins);
          break;
        case 'ask-late-admins':
          written = await this.issue.askLateCompanyAdmins(decided, transition.recipients);
          break;
        case 'revoke':
          written = await this.revoke.execute(current!, transition.reasons, transition.decision);
          break;
        case 'mark-enrolled': {
          // No event: the enrollment service announced the enrollment itself. Enrolled after a revocation (the
          // enrollment's events came after the decision): the revocation's time and reasons are no longer its story.
          const stale = (['adminRequestPending', 'askedAdmins', 'revokedAt'] as const).filter((field) => current![field] !== undefined);
          written = await this.invitations.update(
            current!._id,
            current!.version,
            { set: { state: 'ENROLLED', enrolledAt: this.clock.now(), reasons: [] }, ...(stale.length && { unset: [...stale] }) },
            [],
          );
          break;
        }
      }
      if (written) {
        this.outbox.committed();
        if (transition.kind === 'issue' || transition.kind === 'await-admin') await this.keepProgramName(invitationId, key.programId, program!.name);
        const reached = reachedBy(transition, current);
        if (reached) await this.followAdmins(invitationId, key, reached);
        if (transition.kind === 'await-admin' || transition.kind === 'admins-left') await this.askIfAdminsAppeared(invitationId);
        if (!current) await this.followEnrollment(invitationId, enrollment);
        return transition;
      }
      this.logger.debug(`invitation ${invitationId} changed while applying ${transition.kind}; reading it again`);
    }
    // A transient failure: the consumer retries the message with backoff.
    throw new Error(`invitation ${invitationId} kept changing during ${MAX_ATTEMPTS} attempts`);
  }

  /**
   * An invitation just written with the program's name as read before the write, while a rename may have been handled
   * in between: RecordProgram renames the invitations (no new version, so this write still matched), then writes the
   * view, then renames them again; this one writes the invitation, then reads the view again. Either that second rename
   * comes after this write, or this read after the view's: the invitation keeps the new name. (Its event, published
   * with the name read, tells the old one.)
   */
  private async keepProgramName(invitationId: string, programId: string, written: string): Promise<void> {
    const now = await this.views.program(programId);
    if (now && now.name !== written) await this.invitations.renameIfStill(invitationId, written, now.name);
  }

  /**
   * A waiting invitation written with the company admins IssueInvitation read (none: its request pending), while a
   * company admin's user event may have been handled in between: that handler applies the user to the view and then
   * looks for the waiting invitations that did not ask them, this one writes the invitation and then reads the view
   * again, so one of the two sees the other, and nobody appointed meanwhile is left unasked.
   */
  private async askIfAdminsAppeared(invitationId: string): Promise<void> {
    const written = await this.invitations.load(invitationId);
    if (written?.state !== 'AWAITING_ADMIN' || (!written.adminRequestPending && !written.askedAdmins)) return;
    const asked = new Set(written.askedAdmins ?? []);
    // Someone to ask: the rules decide whether to (the enrollment may be validated meanwhile, the year over...).
    if ((await this.companyAdmins(written.partnerId)).some((admin) => !asked.has(admin.userId))) await this.reconcile(invitationId);
  }

  /**
   * An invitation just created, on the enrollment status read before the write, while an enrollment event may have
   * been recorded in between: its handler writes the view and then reconciles, and found no invitation to move (a new
   * document has no version for the two writes to meet on, as an existing one's). Read again after the write: changed
   * since (ENROLLED meanwhile), the invitation goes round once more (under the same lock), and the rule marks it.
   */
  private async followEnrollment(invitationId: string, read: { status: string; completed?: boolean } | null): Promise<void> {
    const now = await this.views.enrollmentStatus(invitationId);
    if ((now?.status ?? null) !== (read?.status ?? null) || !!now?.completed !== !!read?.completed) await this.reconcile(invitationId);
  }

  /**
   * An invitation just written for the Incentives admins read before the write (issued or delivered to them, or
   * waiting for none), while a user event may have changed who they are in between: that handler applies the user to
   * the view and then looks for the invitations it changes (WaitWhenAdminsLeave: the ISSUED ones; DeliverToLateAdmins:
   * the waiting ones and those that did not reach the user), this one writes the invitation and then reads the admins
   * again, so one of the two sees the other. When they are no longer those it reached (`reached`: the userIds it has
   * now; none for a waiting one): all gone, or someone new, it goes round once more (under the same lock): the rule
   * then moves it to AWAITING_ADMIN and asks the company admins, or delivers it to the new admin (a concurrent handler
   * doing the same misses the version, and reads it as written).
   */
  private async followAdmins(invitationId: string, key: { partnerId: string; locationId: string }, reached: Set<string>): Promise<void> {
    const admins = await this.admins(key.partnerId, key.locationId);
    const waiting = reached.size === 0;
    const changed = waiting ? admins.length > 0 : admins.length === 0 || admins.some((admin) => !reached.has(admin.userId));
    if (changed) await this.reconcile(invitationId);
  }

  private async admins(partnerId: string, locationId: string): Promise<Person[]> {
    const users = await this.policy.holders(partnerId, locationId, 'INCENTIVES_ADMIN');
    return users.map(personOf);
  }

  private async companyAdmins(partnerId: string): Promise<Person[]> {
    return (await this.policy.companyAdmins(partnerId)).map(personOf);
  }
}

/**
 * Whom an invitation this transition wrote has reached (userIds; empty for one left waiting for an Incentives admin),
 * for followAdmins; null for a transition that does not depend on the admins (revoked, enrolled, asked).
 */
function reachedBy(transition: Transition, current: InvitationRecord | null): Set<string> | null {
  switch (transition.kind) {
    case 'issue':
      return new Set(transition.recipients.map((person) => person.userId));
    case 'deliver':
      return new Set([...(current?.recipients ?? []), ...transition.recipients].map((person) => person.userId));
    case 'await-admin':
    case 'admins-left':
      return new Set();
    default:
      return null;
  }
}
