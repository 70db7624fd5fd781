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

  /**
   * A profile event (any of its types; others change nothing): its revision, a tax profile's expiry then, and the
   * locations a bank profile serves. A later version of the same revision (its `locationIds` changed) replaces too.
   */
  async record(type: string, data: Partial<ProfileEvent>): Promise<void> {
    if (!isProfileEvent(type) || !data.profileId || !data.partnerId || typeof data.revision !== 'number') return;
    const { revision, version } = data;
    await upsertIfNewer<ProfileProgress>(this.progress.collection, data.profileId, {
      replaces: (stored) => stored.revision < revision || (stored.revision === revision && version !== undefined && (stored.version ?? 0) < version),
      // An event without an expiry (a bank profile's; an older producer's) leaves none, not the previous revision's.
      set: {
        partnerId: data.partnerId,
        revision,
        expiresAt: data.expiresAt ? new Date(data.expiresAt) : null,
        version: version ?? null,
        locationIds: data.profileKind === 'BANK' && data.locationIds?.length ? data.locationIds : null,
      },
    });
  }

  /**
   * What the profile is now, for a waiting email about it: why it must not go out any more (`withdrawn`, see
   * `profileWithdrawalOf`), and the locations it serves now, when it stopped serving some of those the email was
   * addressed for (`stillServed`, see `locationsStillServed`).
   */
  async check(email: Pick<Message, 'partnerId' | 'profile' | 'audience'>): Promise<{ withdrawn: string | null; stillServed?: string[] }> {
    if (!email.profile) return { withdrawn: null };
    const progress = (await this.byId.load(email.profile.profileId)) ?? null;
    const withdrawn = profileWithdrawalOf(email, progress);
    const stillServed = withdrawn ? undefined : locationsStillServed(email, progress);
    return { withdrawn, ...(stillServed && { stillServed }) };
  }
}

/**
 * The locations a bank profile serves now, for its "could not validate" email, when it stopped serving some of those
 * the email was addressed for (its audience: the Incentives admins of the locations it served then, every location
 * when it named none): its `locationIds` narrowed at the revision the email tells of (a version, not a revision:
 * nothing to validate again). Its recipient is then told only while an Incentives admin of one of those: the email
 * names the profile, its masked account and the validator's reasons, which an admin of another location may not see;
 * what it asks is handed over to the admins of those when none told is one. Undefined when nothing narrowed, or it
 * cannot be told (no audience recorded, no locations at that revision, every location served, another partner's).
 */
export function locationsStillServed(
  email: Pick<Message, 'partnerId' | 'profile' | 'audience'>,
  progress: Pick<ProfileProgress, 'partnerId' | 'revision' | 'locationIds'> | null,
): string[] | undefined {
  const served = progress?.locationIds;
  if (!email.audience || !served || served.includes('*') || progress.partnerId !== email.partnerId || email.profile?.revision !== progress.revision) return undefined;
  const told = email.audience.locationIds;
  return !told || told.some((locationId) => !served.includes(locationId)) ? served : undefined;
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
