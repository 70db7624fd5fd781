import { BatchLoader, bulkWriteBatcher, modelLoader, isDuplicateKey, OutboxEntry, PendingOutboxes, pushOutbox, WITH_OUTBOX } from '@lib/messaging';
import { Keyset } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { Invitation, InvitationState } from './invitation.schema';

export type InvitationRecord = Invitation & { createdAt?: Date; updatedAt?: Date };

/**
 * The order of GET /v1/invitations (and of the overview's read): by location, program and fiscal year (unique
 * together, the id being derived from them), then `_id`; the fields of the { partnerId, locationId, ... } index.
 */
export const LIST_ORDER = new Keyset<InvitationRecord>('invitations', ['locationId', 'programId', 'fiscalYear', '_id']);

/**
 * The order of GET /v1/notices: the newest invitation first (`issuedAt`, which every invitation with a notice has),
 * then `_id`; served by the { pendingNotices, programId, fiscalYear, issuedAt: -1, _id } index, one `$or` branch per
 * program and year.
 */
export const NOTICE_ORDER = new Keyset<InvitationRecord>('notices', ['issuedAt', '_id'], { descending: ['issuedAt'], dates: ['issuedAt'] });

/**
 * Reads and writes invitations. Every write is one document write guarded by `version` that carries the events
 * of the change in the outbox: it answers false when someone else changed the invitation first (read again).
 * Reads made on behalf of a user take the partnerId, so another partner's invitation cannot be returned.
 */
@Injectable()
export class InvitationRepository {
  /** Handlers running at the same time read their invitations with one query. */
  private readonly loader: BatchLoader<string, InvitationRecord>;

  constructor(@InjectModel(Invitation.name) private readonly invitations: Model<Invitation>) {
    this.loader = modelLoader<InvitationRecord>(this.invitations);
  }

  /**
   * The program's name on its invitations: one write, no new version and no event (the name is the catalog's, not a
   * change of the invitation). Only on a rename (RecordProgram), so no index leads with programId: it reads the
   * collection then. Returns how many it renamed.
   */
  async renameProgram(programId: string, name: string): Promise<number> {
    const { modifiedCount } = await this.invitations.updateMany({ programId, programName: { $ne: name } }, { $set: { programName: name } });
    return modifiedCount;
  }

  /**
   * One invitation's program name, from `from` (the name it was just written with) to `to`: a write racing a rename,
   * which sets no version, is given the name the rename set (ReconcileInvitation). Nothing if it holds another.
   */
  async renameIfStill(invitationId: string, from: string, to: string): Promise<void> {
    await this.invitations.updateOne({ _id: invitationId, programName: from }, { $set: { programName: to } });
  }

  /** For the event side (trusted input, no caller): the invitation as it is now. */
  async load(invitationId: string): Promise<InvitationRecord | null> {
    return (await this.loader.load(invitationId)) ?? null;
  }

  /**
   * The plain driver: mongoose's create builds and validates a full document (a fifth of this service's CPU in a
   * burst of decisions). The shape is ours and typed; the schema's defaults and timestamps are set here, and the
   * relay is told about the outbox directly. `version`: 1, or above an earlier deployment's (HistoryFloors).
   */
  async create(invitation: Omit<Invitation, 'version'>, events: OutboxEntry[], version = 1): Promise<boolean> {
    const now = new Date();
    const defined = Object.fromEntries(Object.entries(invitation).filter(([, value]) => value !== undefined));
    const doc = { recipients: [], pendingNotices: [], reasons: [], ...defined, version, createdAt: now, updatedAt: now, ...(events.length && { outbox: events }) };
    try {
      // Concurrent handlers' inserts share one command.
      await PendingOutboxes.writing(this.invitations, events.length ? [invitation._id] : [], () =>
        bulkWriteBatcher(this.invitations.collection as never).write({ insertOne: { document: doc } }),
      );
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  /**
   * The partner's waiting invitations that did not ask `userId`, a Global or Account admin, to assign an Incentives
   * admin: those whose request has not gone out yet (`adminRequestPending`), and those whose request went out to
   * others (`askedAdmins` without them); each with its program and fiscal year. Only those of `fiscalYears`, as
   * `deliverableTo`: a past year's waiting invitation stays as it is.
   */
  async notAsking(partnerId: string, userId: string, fiscalYears: string[]): Promise<Array<Pick<Invitation, '_id' | 'programId' | 'fiscalYear'>>> {
    if (fiscalYears.length === 0) return [];
    return this.invitations
      .find(
        {
          partnerId,
          fiscalYear: { $in: fiscalYears },
          $or: [{ adminRequestPending: true }, { state: 'AWAITING_ADMIN', askedAdmins: { $exists: true, $ne: userId } }],
        },
        { _id: 1, programId: 1, fiscalYear: 1 },
      )
      .sort({ _id: 1 })
      .lean<Array<Pick<Invitation, '_id' | 'programId' | 'fiscalYear'>>>();
  }

  /**
   * The partner's invitations of these locations (all of its locations for `null`) that a new Incentives admin there
   * may be delivered: waiting ones (AWAITING_ADMIN: delivered to every admin the location has, also one who had it
   * before), and ISSUED ones that did not reach `userId` yet; each with its program and fiscal year. No other
   * invitation waits on an admin (issued or not, revoked or enrolled: nextTransition), so the rest of the partner's are
   * left alone: a user event of an admin holding `*` (a name changed, another role) costs this read, not a reconcile of
   * every invitation of the partner. Only those of `fiscalYears` (the current years of the programs taking enrollments:
   * no other is delivered): the past years' stay ISSUED or waiting for good, and are not read again on every event.
   */
  async deliverableTo(
    userId: string,
    partnerId: string,
    locationIds: string[] | null,
    fiscalYears: string[],
  ): Promise<Array<Pick<Invitation, '_id' | 'programId' | 'fiscalYear'>>> {
    if (fiscalYears.length === 0) return [];
    return this.invitations
      .find(
        {
          partnerId,
          ...(locationIds && { locationId: { $in: locationIds } }),
          fiscalYear: { $in: fiscalYears },
          $or: [{ state: 'AWAITING_ADMIN' }, { state: 'ISSUED', 'recipients.userId': { $ne: userId } }],
        },
        { _id: 1, programId: 1, fiscalYear: 1 },
      )
      .sort({ _id: 1 })
      .lean<Array<Pick<Invitation, '_id' | 'programId' | 'fiscalYear'>>>();
  }

  /**
   * The partner's ISSUED invitations of these locations (all of its locations for `null`): those whose Incentives admins
   * may all have left there; each with its program and fiscal year. Only those of `fiscalYears`, as `deliverableTo`.
   */
  async issuedIn(partnerId: string, locationIds: string[] | null, fiscalYears: string[]): Promise<Array<Pick<Invitation, '_id' | 'programId' | 'fiscalYear'>>> {
    if (fiscalYears.length === 0) return [];
    return this.invitations
      .find(
        { partnerId, ...(locationIds && { locationId: { $in: locationIds } }), state: 'ISSUED', fiscalYear: { $in: fiscalYears } },
        { _id: 1, programId: 1, fiscalYear: 1 },
      )
      .sort({ _id: 1 })
      .lean<Array<Pick<Invitation, '_id' | 'programId' | 'fiscalYear'>>>();
  }

  async update(
    invitationId: string,
    version: number,
    change: { set: Partial<Invitation>; unset?: Array<keyof Invitation> },
    events: OutboxEntry[],
  ): Promise<boolean> {
    // findOneAndUpdate rather than updateOne: mongo-java-server scans the whole collection for an update whose
    // filter has more than `_id`, and looks a findAndModify up by `_id`. WITH_OUTBOX: no projection (FerretDB).
    const found = await this.invitations
      .findOneAndUpdate(
        { _id: invitationId, version },
        {
          $set: change.set,
          ...(change.unset?.length && { $unset: Object.fromEntries(change.unset.map((field) => [field, 1])) }),
          $inc: { version: 1 },
          ...(events.length && { $push: pushOutbox(events) }),
        },
      )
      .select(WITH_OUTBOX)
      .lean();
    return found !== null;
  }

  async findForPartner(partnerId: string, invitationId: string): Promise<InvitationRecord | null> {
    return this.invitations.findOne({ _id: invitationId, partnerId }).lean<InvitationRecord>();
  }

  /**
   * The partner's invitations of these locations in LIST_ORDER: all of them, or with `page`, `count` of them after
   * the filter `after` (LIST_ORDER.after).
   */
  async listForPartner(
    partnerId: string,
    /** `locationIds`: null for every location of the partner. */
    filter: { locationIds: string[] | null; states?: InvitationState[] },
    page?: { after: Record<string, unknown>; count: number },
  ): Promise<InvitationRecord[]> {
    const query = this.invitations
      .find({
        partnerId,
        ...(filter.locationIds && { locationId: { $in: filter.locationIds } }),
        ...(filter.states && { state: { $in: filter.states } }),
        // after's $or is the only $or here (a second one would have to go under $and).
        ...page?.after,
      })
      .sort(LIST_ORDER.sort);
    if (page) query.limit(page.count);
    return query.lean<InvitationRecord[]>();
  }

  /**
   * Invitations on which the user still has a notice they have not selected, in NOTICE_ORDER: `count` of them after the
   * filter `after` (NOTICE_ORDER.after), of the given programs and fiscal years when given.
   */
  async withPendingNotice(
    partnerId: string,
    userId: string,
    states: InvitationState[],
    page: { after: Record<string, unknown>; count: number },
    programYears?: Array<{ programId: string; fiscalYear: string }>,
  ): Promise<InvitationRecord[]> {
    if (programYears?.length === 0) return [];
    // Of these (program, fiscal year) pairs only, when given: a notice of a program closed or of a year past stays
    // pending for good, and would otherwise be read (and dropped) on every listing.
    const of = programYears && { $or: programYears.map(({ programId, fiscalYear }) => ({ programId, fiscalYear })) };
    return this.invitations
      .find({ partnerId, pendingNotices: userId, state: { $in: states }, ...(of ? { $and: [of, page.after] } : page.after) })
      .sort(NOTICE_ORDER.sort)
      .limit(page.count)
      .lean<InvitationRecord[]>();
  }
}
