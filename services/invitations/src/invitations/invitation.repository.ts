import { BatchLoader, bulkWriteBatcher, modelLoader, isDuplicateKey, OutboxEntry, PendingOutboxes, pushOutbox } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { Invitation, InvitationState } from './invitation.schema';

export type InvitationRecord = Invitation & { createdAt?: Date; updatedAt?: Date };

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

  /** For the event side (trusted input, no caller): the invitation as it is now. */
  async load(invitationId: string): Promise<InvitationRecord | null> {
    return (await this.loader.load(invitationId)) ?? null;
  }

  /**
   * The plain driver: mongoose's create builds and validates a full document (a fifth of this service's CPU in a
   * burst of decisions). The shape is ours and typed; the schema's defaults and timestamps are set here, and the
   * relay is told about the outbox directly.
   */
  async create(invitation: Omit<Invitation, 'version'>, events: OutboxEntry[]): Promise<boolean> {
    const now = new Date();
    const defined = Object.fromEntries(Object.entries(invitation).filter(([, value]) => value !== undefined));
    const doc = { recipients: [], pendingNotices: [], reasons: [], ...defined, version: 1, createdAt: now, updatedAt: now, ...(events.length && { outbox: events }) };
    try {
      if (events.length) PendingOutboxes.noteDocuments(this.invitations, [invitation._id]);
      // Concurrent handlers' inserts share one command.
      await bulkWriteBatcher(this.invitations.collection as never).write({ insertOne: { document: doc } });
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  /** Ids of the partner's waiting invitations whose request to assign an Incentives admin has not gone out yet. */
  async pendingAdminRequests(partnerId: string): Promise<string[]> {
    const rows = await this.invitations.find({ partnerId, adminRequestPending: true }, { _id: 1 }).sort({ _id: 1 }).lean();
    return rows.map((row) => row._id);
  }

  async update(
    invitationId: string,
    version: number,
    change: { set: Partial<Invitation>; unset?: Array<keyof Invitation> },
    events: OutboxEntry[],
  ): Promise<boolean> {
    // findOneAndUpdate rather than updateOne: mongo-java-server scans the whole collection for an update whose
    // filter has more than `_id`, and looks a findAndModify up by `_id`. `+outbox`: no projection (FerretDB).
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
      .select('+outbox')
      .lean();
    return found !== null;
  }

  async findForPartner(partnerId: string, invitationId: string): Promise<InvitationRecord | null> {
    return this.invitations.findOne({ _id: invitationId, partnerId }).lean<InvitationRecord>();
  }

  async listForPartner(
    partnerId: string,
    filter: { locationIds: string[]; states?: InvitationState[] },
  ): Promise<InvitationRecord[]> {
    return this.invitations
      .find({
        partnerId,
        locationId: { $in: filter.locationIds },
        ...(filter.states && { state: { $in: filter.states } }),
      })
      .sort({ locationId: 1, programId: 1, fiscalYear: 1 })
      .lean<InvitationRecord[]>();
  }

  /** Invitations on which the user still has a notice they have not selected. */
  async withPendingNotice(partnerId: string, userId: string, states: InvitationState[]): Promise<InvitationRecord[]> {
    return this.invitations
      .find({ partnerId, pendingNotices: userId, state: { $in: states } })
      .sort({ issuedAt: -1, _id: 1 })
      .lean<InvitationRecord[]>();
  }
}
