import { Actor, isCompanyAdmin } from '@lib/access';
import { ALL_LOCATIONS, Role } from '@lib/contracts';
import { FilterQuery } from 'mongoose';
import { Audience, Message } from '../messages/message.schema';

/** The inbox's reader: whose entries, and the roles the recipient view gives them now. */
export type InboxViewer = Pick<Actor, 'userId' | 'partnerId' | 'roles'>;

/** Addressed to the company admins (it names the location that needs an Incentives admin). */
export const ADMIN_NEEDED_TEMPLATE = 'admin-assignment-requested';
/** A bank profile's action stores no `locationId`: the locations it serves are in the audience of its email twin. */
export const PROFILE_ACTION_TEMPLATE = 'profile-action-required';

/**
 * Which of the viewer's entries they may still see: those whose audience holds them now, by the same rule as an
 * email's re-check (`inAudience`): one of its roles on one of its locations, directly or through `*`, or anywhere
 * when it names none. The audience is the one recorded on the entry; an entry that records none (written before
 * entries recorded one, or addressed to someone the view did not show in that role yet) has the one the planner chose
 * for it: the company admins for an admin-needed request, the Incentives admins
 * of `locationId` for the others that name a location. Bank-profile actions (no `locationId`) are settled one by one
 * from their email twin, outside the query (`hidden`); any other entry without a location has no scope and stays.
 * A filter on stored fields, so pages, totals and the unread count agree with each other.
 */
export function visibleTo(viewer: InboxViewer, hidden: string[]): FilterQuery<Message> {
  const byRole = new Map<Role, Set<string>>();
  for (const grant of viewer.roles) {
    const locations = byRole.get(grant.role) ?? new Set<string>();
    grant.locationIds.forEach((id) => locations.add(id));
    byRole.set(grant.role, locations);
  }
  const recorded: Array<FilterQuery<Message>> = [...byRole].map(([role, locations]) =>
    locations.has(ALL_LOCATIONS)
      ? { 'audience.roles': role }
      : { 'audience.roles': role, $or: [{ 'audience.locationIds': { $exists: false } }, { 'audience.locationIds': { $in: [...locations] } }] },
  );
  const admins = byRole.get('INCENTIVES_ADMIN');
  const derived: Array<FilterQuery<Message>> = [
    // No location scope; bank-profile actions settled outside (`hidden`).
    { template: { $ne: ADMIN_NEEDED_TEMPLATE }, locationId: { $exists: false }, ...(hidden.length && { _id: { $nin: hidden } }) },
    ...(isCompanyAdmin(viewer) ? [{ template: ADMIN_NEEDED_TEMPLATE }] : []),
    ...(admins
      ? [{ template: { $ne: ADMIN_NEEDED_TEMPLATE }, locationId: admins.has(ALL_LOCATIONS) ? { $exists: true } : { $in: [...admins] } }]
      : []),
  ];
  return {
    $or: [
      ...recorded.map((clause) => ({ audience: { $exists: true }, ...clause })),
      ...derived.map((clause) => ({ audience: { $exists: false }, ...clause })),
    ],
  };
}

/** The audience a bank-profile entry without one is checked against: its email twin's, else any Incentives admin. */
export function bankProfileAudience(twin: { audience?: Audience } | undefined): Audience {
  return twin?.audience ?? { roles: ['INCENTIVES_ADMIN'] };
}
