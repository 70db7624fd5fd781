import { isProfileEvent, ProfileEvent } from '@lib/contracts';
import { BatchLoader, byIdLoader, upsertIfNewer } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { Message } from '../messages/message.schema';
import { ProfileProgress } from './profile-progress.schema';

@Injectable()
export class ProfileProgressRepository {
  constructor(@InjectModel(ProfileProgress.name) private readonly progress: Model<ProfileProgress>) {
    this.byId = byIdLoader((ids) => this.progress.find({ _id: { $in: ids } }).lean<ProfileProgress[]>().exec());
  }

  /** Emails checked at the same time read their profiles with one query. */
  private readonly byId: BatchLoader<string, ProfileProgress>;

  /** A profile event (any of its types; others change nothing): its revision, and a tax profile's expiry then. */
  async record(type: string, data: Partial<ProfileEvent>): Promise<void> {
    if (!isProfileEvent(type) || !data.profileId || !data.partnerId || typeof data.revision !== 'number') return;
    const revision = data.revision;
    await upsertIfNewer<ProfileProgress>(this.progress.collection, data.profileId, {
      replaces: (stored) => stored.revision < revision,
      // An event without an expiry (a bank profile's; an older producer's) leaves none, not the previous revision's.
      set: { partnerId: data.partnerId, revision, expiresAt: data.expiresAt ? new Date(data.expiresAt) : null },
    });
  }

  /** Why a waiting email about a profile must not go out any more, or null (see `profileWithdrawalOf`). */
  async withdrawal(email: Pick<Message, 'partnerId' | 'profile'>): Promise<string | null> {
    if (!email.profile) return null;
    return profileWithdrawalOf(email, (await this.byId.load(email.profile.profileId)) ?? null);
  }
}

/**
 * Why an email about a profile is withdrawn before it is sent, or null: what it tells stopped being true while it
 * waited (a retry, a backlog):
 *  - "could not validate" (`revision`): the profile has a later revision since (the admin changed and submitted it
 *    again; it is being validated, or decided, again);
 *  - "expires on" (`expiresAt`): the profile's forms expire at another date since (renewed forms).
 * A profile this service has no event of (none since this check was deployed), or another partner's, or without an
 * expiry at its latest revision, is not checked so.
 */
export function profileWithdrawalOf(
  email: Pick<Message, 'partnerId' | 'profile'>,
  progress: Pick<ProfileProgress, 'partnerId' | 'revision' | 'expiresAt'> | null,
): string | null {
  const told = email.profile;
  if (!told || !progress || progress.partnerId !== email.partnerId) return null;
  if (told.revision !== undefined && progress.revision > told.revision) return `the profile changed since (revision ${progress.revision}): it is validated again`;
  if (told.expiresAt !== undefined && progress.expiresAt != null && +new Date(progress.expiresAt) !== +new Date(told.expiresAt)) {
    return `the profile's forms expire on ${new Date(progress.expiresAt).toISOString().slice(0, 10)} since`;
  }
  return null;
}
