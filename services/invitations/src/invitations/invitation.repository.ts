import { OutboxEntry, pushOutbox } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { Invitation, InvitationState } from './invitation.schema';

export type InvitationRecord = Invitation & { createdAt?: Date; updatedAt?: Date };

const OUTBOX_DRAIN_WAIT_MS = 3_000;

function isDuplicateKey(error: unknown): boolean {
  return (error as { code?: number })?.code === 11000;
}

/**
 * Reads and writes invitations. Every write is one document write guarded by `version` that carries the events
 * of the change in the outbox: it answers false when someone else changed the invitation first (read again).
 * Reads made on behalf of a user take the partnerId, so another partner's invitation cannot be returned.
 */
@Injectable()
export class InvitationRepository {
  constructor(@InjectModel(Invitation.name) private readonly invitations: Model<Invitation>) {}

  /** For the event side (trusted input, no caller): the invitation as it is now. */
  async load(invitationId: string): Promise<InvitationRecord | null> {
    return this.invitations.findById(invitationId).lean<InvitationRecord>();
  }

  async create(invitation: Omit<Invitation, 'version'>, events: OutboxEntry[]): Promise<boolean> {
    try {
      await this.invitations.create({ ...invitation, version: 1, outbox: events });
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  async update(
    invitationId: string,
    version: number,
    change: { set: Partial<Invitation>; unset?: Array<keyof Invitation> },
    events: OutboxEntry[],
  ): Promise<boolean> {
    await this.outboxDrained(invitationId);
    const result = await this.invitations.updateOne(
      { _id: invitationId, version },
      {
        $set: change.set,
        ...(change.unset?.length && { $unset: Object.fromEntries(change.unset.map((field) => [field, 1])) }),
        $inc: { version: 1 },
        ...(events.length && { $push: pushOutbox(events) }),
      },
    );
    return result.matchedCount === 1;
  }

  /**
   * Waits (bounded) until the relay has published and removed this invitation's pending events. On the local
   * FerretDB an update is a whole-document read-modify-write: one running at the same time as the relay's
   * `$pullAll` on the same document can lose either change. Once the outbox is empty the relay leaves the
   * document alone, so the next write does not race it. (On MongoDB the wait is simply short.)
   */
  private async outboxDrained(invitationId: string): Promise<void> {
    const deadline = Date.now() + OUTBOX_DRAIN_WAIT_MS;
    while (Date.now() < deadline) {
      const pending = await this.invitations.exists({ _id: invitationId, 'outbox.0': { $exists: true } });
      if (!pending) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
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
