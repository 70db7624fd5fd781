import { fiscalYearBefore, ProgramSnapshot } from '@lib/contracts';
import { BatchLoader, bulkWriteBatcher, byIdLoader, isDuplicateKey, upsertIfNewer } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { Message } from '../messages/message.schema';
import { InvitationMilestone, InvitationProgress } from './invitation-progress.schema';
import { ProgramView } from './program-view.schema';

type InvitationEmail = Pick<Message, 'partnerId' | 'causationEventType' | 'invitation'>;

@Injectable()
export class InvitationProgressRepository {
  constructor(
    @InjectModel(InvitationProgress.name) private readonly progress: Model<InvitationProgress>,
    @InjectModel(ProgramView.name) private readonly programs: Model<ProgramView>,
  ) {
    this.byId = byIdLoader((ids) => this.progress.find({ _id: { $in: ids } }).lean<InvitationProgress[]>().exec());
    this.programById = byIdLoader((ids) => this.programs.find({ _id: { $in: ids } }).lean<ProgramView[]>().exec());
  }

  /** Emails checked at the same time read their invitations (and programs) with one query. */
  private readonly byId: BatchLoader<string, InvitationProgress>;
  private readonly programById: BatchLoader<string, ProgramView>;

  /**
   * Keeps the program's state and current fiscal year (the highest revision wins, whatever order events come in), and
   * when its event says it changed so (`changedAt`, its `occurredAt`).
   */
  async recordProgram(program: ProgramSnapshot, changedAt: Date): Promise<void> {
    await upsertIfNewer<ProgramView>(this.programs.collection, program.programId, {
      replaces: (stored) => stored.revision < program.revision,
      set: { state: program.state, fiscalYear: program.fiscalYear, revision: program.revision, changedAt },
    });
  }

  /**
   * Moves the milestone to `at` and `version` (when the event had one) unless it is later already (`$max`): idempotent
   * and independent of the order events arrive in. An upsert racing another for the same new invitation loses on the
   * unique `_id`; once more then finds it. Written with the other handlers' writes of the same turn in one command (a
   * burst of invitations: one per batch).
   */
  async record(invitationId: string, partnerId: string, milestone: InvitationMilestone, at: Date, version?: number): Promise<void> {
    const moved = { [`${milestone}At`]: at, ...(version !== undefined && { [`${milestone}Version`]: version }) };
    const write = () =>
      bulkWriteBatcher(this.progress.collection as never).write({
        updateOne: { filter: { _id: invitationId }, update: { $max: moved, $setOnInsert: { partnerId } }, upsert: true },
      } as never);
    try {
      await write();
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      await write();
    }
  }

  /** Why a waiting email about an invitation must not go out any more, or null (see `withdrawalOf`). */
  async withdrawal(email: InvitationEmail): Promise<string | null> {
    if (!email.invitation) return null;
    const { invitationId, programId } = email.invitation;
    const [progress, program] = await Promise.all([this.byId.load(invitationId), programId ? this.programById.load(programId) : undefined]);
    return withdrawalOf(email, progress ?? null, program ?? null);
  }
}

/**
 * Why an email about an invitation is withdrawn before it is sent, or null:
 *  - either, when its program is no longer taking enrollments for it: discontinued (for good), moved on past the
 *    invitation's fiscal year (a program's year only moves forward), or closed after the invitations service decided
 *    the event: Enroll refuses to start an enrollment then, and an Incentives admin assigned then receives nothing (the
 *    invitations service's `enrollableNow`). This service reads programs.events.v1 beside invitations.events.v1, with
 *    no order between them, so its view of the program may be behind the one that service decided by, or ahead: the
 *    event's `programRevision` (the revision decided by) tells which, a view of a later revision being ahead. Events
 *    without it (older) are compared by time: the program's change (`changedAt`, its event's `occurredAt`) later than
 *    the email's event. Checked at each attempt: one reopened before it is sent. A program this service has no
 *    snapshot of, and an email written before `invitation` named its program, are not checked so;
 *  - the invitation (InvitationIssued / InvitationDelivered) when the invitation was revoked after the event that
 *    caused the email: its Get Started would lead to an Enroll that refuses (SPEC 1, Invitations 5). A revocation
 *    before it belongs to an earlier cycle (the invitation was issued again since);
 *  - the request to assign an Incentives admin (AdminAssignmentRequested) when the invitation reached an Incentives
 *    admin after the request (the location has one now), or was revoked after it (the location is no longer eligible).
 * Strictly after: events of one invitation are written one after another by the invitations service, each write
 * raising the invitation's version. Compared by those versions when the email's event and the milestone both have
 * one; by `occurredAt` otherwise (events written before versions existed: instances whose clocks differ could
 * misorder a revocation and a re-issue close to it).
 */
export function withdrawalOf(
  email: InvitationEmail,
  progress: Pick<InvitationProgress, 'partnerId' | 'revokedAt' | 'revokedVersion' | 'deliveredAt' | 'deliveredVersion'> | null,
  program: Pick<ProgramView, 'state' | 'fiscalYear' | 'revision' | 'changedAt'> | null = null,
): string | null {
  if (!email.invitation) return null;
  const { fiscalYear, programRevision, occurredAt } = email.invitation;
  if (program?.state === 'DISCONTINUED') return 'program DISCONTINUED before delivery';
  if (program && fiscalYear && fiscalYearBefore(fiscalYear, program.fiscalYear)) return `program moved to ${program.fiscalYear} before delivery`;
  if (program && program.state !== 'OPEN') {
    const closedAfter =
      programRevision !== undefined ? program.revision > programRevision : program.changedAt === undefined || +new Date(program.changedAt) > +new Date(occurredAt);
    if (closedAfter) return `program ${program.state} before delivery`;
  }
  if (!progress || progress.partnerId !== email.partnerId) return null;
  const { version } = email.invitation;
  const caused = +new Date(email.invitation.occurredAt);
  const after = (at?: Date, atVersion?: number) =>
    version !== undefined && atVersion !== undefined ? atVersion > version : at !== undefined && +new Date(at) > caused;
  if (after(progress.revokedAt, progress.revokedVersion)) return 'invitation revoked before delivery';
  if (email.causationEventType === 'AdminAssignmentRequested' && after(progress.deliveredAt, progress.deliveredVersion)) {
    return 'an Incentives admin was assigned and received the invitation before delivery';
  }
  return null;
}
