import { Role } from '@lib/contracts';
import { REVISION_GUARD_INDEX } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

@Schema({ _id: false })
export class AccessRole {
  @Prop({ required: true, type: String }) role!: Role;
  @Prop({ required: true, type: [String] }) locationIds!: string[];
}

/** A user as the identity service last described them (highest revision wins). */
@Schema({ collection: 'access_users', versionKey: false })
export class AccessUser {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ required: true }) email!: string;
  @Prop({ required: true }) displayName!: string;
  @Prop({ required: true }) active!: boolean;
  @Prop({ type: [AccessRole], default: [] }) roles!: AccessRole[];
  /** `ROLE:locationId` (or `ROLE:*`) for each grant: plain array membership, which every server can query. */
  @Prop({ type: [String], default: [] }) grants!: string[];
  @Prop({ required: true }) revision!: number;
}
export const AccessUserSchema = SchemaFactory.createForClass(AccessUser);
// Grants are looked up in access_grants; the users of a partner holding a role anywhere (notification's Incentives
// admins of a bank profile serving every location), in _id order. A partner's users by `partnerId` alone take its
// prefix (a `partnerId` index of its own, as before, stays on deployments from before until an operator drops it).
AccessUserSchema.index({ partnerId: 1, active: 1, 'roles.role': 1, _id: 1 });
AccessUserSchema.index(...REVISION_GUARD_INDEX);


/**
 * Who holds a grant: `_id` = `ROLE:locationId` (location ids are unique platform-wide) or `ROLE:*:partnerId`,
 * with the ids of the active users holding it. Users are added before their snapshot is stored and removed once the
 * stored snapshot no longer holds it (AccessViewUpdater; entries of a view from before that go on a user's next
 * event), so an entry may name a few more: readers fetch the users and keep those whose current grants match. A lookup by `_id`, where a
 * query on `access_users.grants` reads the whole collection on servers without secondary indexes
 * (mongo-java-server ignores them).
 */
@Schema({ collection: 'access_grants', versionKey: false })
export class AccessGrant {
  @Prop({ type: String }) _id!: string;
  @Prop({ type: [String], default: [] }) userIds!: string[];
}
export const AccessGrantSchema = SchemaFactory.createForClass(AccessGrant);

/** The grant index keys of a user's roles in a partner. */
export function grantIndexKeys(partnerId: string, roles: Array<{ role: string; locationIds: string[] }>): string[] {
  return roles.flatMap((r) => r.locationIds.map((locationId) => grantIndexKey(partnerId, r.role, locationId)));
}

export function grantIndexKey(partnerId: string, role: string, locationId: string): string {
  return locationId === '*' ? `${role}:*:${partnerId}` : `${role}:${locationId}`;
}

@Schema({ collection: 'access_locations', versionKey: false })
export class AccessLocation {
  /** The location PartnerID. */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ required: true }) country!: string;
  @Prop({ required: true }) legalName!: string;
}
export const AccessLocationSchema = SchemaFactory.createForClass(AccessLocation);
/** A partner's locations in `_id` order (the lists' pages): read in order from the index, not sorted in memory. */
AccessLocationSchema.index({ partnerId: 1, _id: 1 });
