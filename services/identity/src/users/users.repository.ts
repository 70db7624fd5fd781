import { grantKeys, Role, Topics, UserEventType, UserSnapshot } from '@lib/contracts';
import { EventOutbox, isDuplicateKey, pushOutbox } from '@lib/messaging';
import { Keyset } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { FilterQuery, Model } from 'mongoose';
import { Grant } from '../roles/role-grants';
import { emailKey } from './email-key';
import { BY_DIRECTORY } from './scim';
import { User } from './user.schema';

export { emailKey };

/** What a change may set on a user. */
export interface UserChange {
  email?: string;
  displayName?: string;
  /** null removes it (the directory sent it empty). */
  givenName?: string | null;
  familyName?: string | null;
  active?: boolean;
  /** Set with `active: false`; null removes it (reactivation). */
  deactivatedBy?: string | null;
  roles?: Grant[];
  externalId?: string;
}

export interface NewUser {
  userId: string;
  partnerId: string;
  email: string;
  displayName: string;
  givenName?: string;
  familyName?: string;
  roles: Grant[];
  externalId?: string;
  /** IdempotentRequest.fingerprint of the creating request, when its id derives from its Idempotency-Key. */
  createdByRequest?: string;
}

/** Extra payload of the event, beyond the user snapshot (role and locations of a role change, externalId). */
export type EventExtra = { role: Role; locationIds: string[]; changedBy?: string } | { externalId?: string };

export class DuplicateUserError extends Error {
  override readonly name = 'DuplicateUserError';
  constructor(readonly field: 'email' | 'externalId') {
    super(field === 'email' ? 'A user of this partner already has this email.' : 'A user of this partner already has this externalId.');
  }
}

/**
 * The order of the list of a partner's users: by email as compared (emailKey), unique per partner (its unique index,
 * which also serves this sort), so no `_id` is needed to make it total.
 */
export const USER_ORDER = new Keyset<User>('users', ['emailKey']);
/** The order of a location's role holders (GET /v1/locations/{id}/incentives-admins): by email, as the users list. */
export const HOLDER_ORDER = new Keyset<User>('incentives-admins', ['emailKey']);

export function snapshot(user: Pick<User, '_id' | 'partnerId' | 'email' | 'displayName' | 'active' | 'roles' | 'revision'>): UserSnapshot {
  return {
    userId: user._id,
    partnerId: user.partnerId,
    email: user.email,
    displayName: user.displayName,
    active: user.active,
    roles: user.roles.map((grant) => ({ role: grant.role, locationIds: [...grant.locationIds] })),
    revision: user.revision,
  };
}

function duplicateField(error: unknown): 'email' | 'externalId' | undefined {
  if (!isDuplicateKey(error)) return undefined;
  const e = error as { keyPattern?: Record<string, unknown>; message?: string };
  const described = `${Object.keys(e.keyPattern ?? {}).join(',')} ${e.message ?? ''}`;
  return described.includes('externalKey') ? 'externalId' : 'email';
}

/**
 * Users of one partner. Every method but findEverywhereByEmail (dev sign-in) takes the partnerId, so another partner's
 * users cannot leak. Every write
 * stores the new state, the next `revision` and its event (full snapshot) in one single-document update.
 */
@Injectable()
export class UsersRepository {
  constructor(
    @InjectModel(User.name) private readonly users: Model<User>,
    private readonly outbox: EventOutbox,
  ) {}

  find(partnerId: string, userId: string): Promise<User | null> {
    return this.users.findOne({ _id: userId, partnerId }).lean<User>();
  }

  findByEmail(partnerId: string, email: string): Promise<User | null> {
    return this.users.findOne({ partnerId, emailKey: emailKey(email) }).lean<User>();
  }

  findManyByExternalId(partnerId: string, externalIds: string[]): Promise<User[]> {
    return this.users.find({ partnerId, externalKey: { $in: externalIds.map((id) => `${partnerId}|${id}`) } }).lean<User[]>();
  }

  findManyByEmail(partnerId: string, emails: string[]): Promise<User[]> {
    return this.users.find({ partnerId, emailKey: { $in: emails.map(emailKey) } }).lean<User[]>();
  }

  /** Development sign-in only: the users with this email in every partner. */
  findEverywhereByEmail(email: string): Promise<User[]> {
    return this.users.find({ emailKey: emailKey(email) }).sort({ partnerId: 1 }).lean<User[]>();
  }

  /** `count` of the partner's users in USER_ORDER, after a position (`after`: USER_ORDER.after). */
  list(partnerId: string, { after, count, active }: { after: Record<string, unknown>; count: number; active?: boolean }): Promise<User[]> {
    const filter: FilterQuery<User> = { partnerId, ...after };
    if (active !== undefined) filter.active = active;
    return this.users.find(filter).sort(USER_ORDER.sort).limit(count).lean<User[]>();
  }

  /** `count` active users holding `role` on the location, directly or through `*`, in HOLDER_ORDER after `after`. */
  holders(partnerId: string, role: Role, locationId: string, { after, count }: { after: Record<string, unknown>; count: number }): Promise<User[]> {
    return this.users
      .find({ partnerId, active: true, grants: { $in: [`${role}:${locationId}`, `${role}:*`] }, ...after })
      .sort(HOLDER_ORDER.sort)
      .limit(count)
      .lean<User[]>();
  }

  /** Active users holding the company-wide `role`, leaving out `exceptUserId`. */
  countActiveWithRole(partnerId: string, role: Role, exceptUserId?: string): Promise<number> {
    return this.users.countDocuments({ partnerId, active: true, grants: `${role}:*`, ...(exceptUserId !== undefined && { _id: { $ne: exceptUserId } }) });
  }

  /** Inserts a user at revision 1 with its UserCreated event. */
  async create(input: NewUser): Promise<User> {
    const state = {
      _id: input.userId,
      partnerId: input.partnerId,
      email: input.email.trim(),
      emailKey: emailKey(input.email),
      displayName: input.displayName,
      ...(input.givenName !== undefined && { givenName: input.givenName }),
      ...(input.familyName !== undefined && { familyName: input.familyName }),
      active: true,
      roles: input.roles,
      grants: grantKeys(input.roles),
      ...(input.externalId !== undefined && { externalId: input.externalId, externalKey: `${input.partnerId}|${input.externalId}` }),
      revision: 1,
    };
    const stored = { ...state, ...(input.createdByRequest !== undefined && { createdByRequest: input.createdByRequest }) };
    const event = this.event('UserCreated', state, input.externalId !== undefined ? { externalId: input.externalId } : {});
    try {
      await this.users.create({ ...stored, outbox: [event] });
    } catch (error) {
      const field = duplicateField(error);
      if (field) throw new DuplicateUserError(field);
      throw error;
    }
    this.outbox.committed();
    return (await this.find(input.partnerId, input.userId))!;
  }

  /**
   * Records an admin as who deactivated a user the directory deactivated (no new revision, no event: `deactivatedBy` is
   * not part of the user others see). The user as it is now; null when it is no longer so (reactivated meanwhile).
   */
  async takeOverDeactivation(current: User, adminId: string): Promise<User | null> {
    const { matchedCount } = await this.users.updateOne(
      { _id: current._id, partnerId: current.partnerId, revision: current.revision, active: false, deactivatedBy: BY_DIRECTORY },
      { $set: { deactivatedBy: adminId } },
    );
    return matchedCount === 1 ? this.find(current.partnerId, current._id) : null;
  }

  /**
   * Applies a change to the user as read (`current.revision`, and who deactivated it: takeOverDeactivation changes that
   * without a new revision), with its event, in one conditional update. Returns null when the user changed meanwhile
   * (the caller re-reads, or answers 412): an import that read a user the directory deactivated does not reactivate it
   * once an admin has taken the deactivation over.
   */
  async change(current: User, change: UserChange, type: UserEventType, extra: EventExtra = {}): Promise<User | null> {
    const { deactivatedBy, givenName, familyName, ...rest } = change;
    const next = { ...current, ...rest, revision: current.revision + 1 };
    const set: Record<string, unknown> = { ...rest, revision: next.revision };
    // null removes the field (reactivation clears deactivatedBy; the directory may clear a name part).
    const unset: Record<string, 1> = {};
    for (const [field, value] of Object.entries({ deactivatedBy, givenName, familyName })) {
      if (value === null) unset[field] = 1;
      else if (value !== undefined) set[field] = value;
    }
    if (change.email !== undefined) {
      set.email = change.email.trim();
      set.emailKey = emailKey(change.email);
      next.email = set.email as string;
    }
    if (change.roles !== undefined) set.grants = grantKeys(change.roles);
    if (change.externalId !== undefined) set.externalKey = `${current.partnerId}|${change.externalId}`;
    const event = this.event(type, next, extra);
    let matched: number;
    try {
      // updateOne, not findOneAndUpdate: FerretDB cannot project findAndModify results (the hidden outbox).
      ({ matchedCount: matched } = await this.users.updateOne(
        // `null` matches a user without deactivatedBy too (MongoDB's equality to null).
        { _id: current._id, partnerId: current.partnerId, revision: current.revision, deactivatedBy: current.deactivatedBy ?? null },
        { $set: set, ...(Object.keys(unset).length > 0 && { $unset: unset }), $push: pushOutbox([event]) },
      ));
    } catch (error) {
      const field = duplicateField(error);
      if (field) throw new DuplicateUserError(field);
      throw error;
    }
    if (matched === 0) return null;
    this.outbox.committed();
    return this.find(current.partnerId, current._id);
  }

  private event(type: UserEventType, user: Parameters<typeof snapshot>[0], extra: EventExtra) {
    return this.outbox.event(Topics.identity, {
      type,
      partnerId: user.partnerId,
      data: { user: snapshot(user), ...extra },
    });
  }
}
