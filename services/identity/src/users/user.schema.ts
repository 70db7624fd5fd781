import { Role } from '@lib/contracts';
import { outboxPlugin } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

@Schema({ _id: false, versionKey: false })
export class StoredRole {
  @Prop({ required: true, type: String }) role!: Role;
  @Prop({ required: true, type: [String] }) locationIds!: string[];
}
export const StoredRoleSchema = SchemaFactory.createForClass(StoredRole);

/**
 * A user with its roles and its pending events: one document, so every change and its event are one write.
 * `revision` is both the optimistic-concurrency version (ETag) and the snapshot revision consumers compare.
 */
@Schema({ collection: 'users', versionKey: false, timestamps: true })
export class User {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ required: true }) email!: string;
  /** Lower-cased email: unique per partner. */
  @Prop({ required: true }) emailKey!: string;
  @Prop({ required: true }) displayName!: string;
  @Prop() givenName?: string;
  @Prop() familyName?: string;
  @Prop({ required: true }) active!: boolean;
  /**
   * Who deactivated an inactive user: `DIRECTORY` (an import, `BY_DIRECTORY` in scim.ts) or the admin's user id. An import reactivates only
   * users the directory deactivated; absent (users deactivated before this was recorded) counts as an admin.
   */
  @Prop() deactivatedBy?: string;
  @Prop({ type: [StoredRoleSchema], default: [] }) roles!: StoredRole[];
  /** `ROLE:locationId` per grant, for portable queries of role holders (no $elemMatch). */
  @Prop({ type: [String], default: [] }) grants!: string[];
  /** The directory's id of an imported user. */
  @Prop() externalId?: string;
  /** `partnerId|externalId`: unique (sparse), so one directory entry is one user. */
  @Prop() externalKey?: string;
  /** The fingerprint of the request that created it under an Idempotency-Key (its id derives from the key). */
  @Prop() createdByRequest?: string;
  @Prop({ required: true }) revision!: number;
  createdAt!: Date;
  updatedAt!: Date;
}
export const UserSchema = SchemaFactory.createForClass(User);
UserSchema.plugin(outboxPlugin);
UserSchema.index({ partnerId: 1, emailKey: 1 }, { unique: true });
UserSchema.index({ externalKey: 1 }, { unique: true, sparse: true });
UserSchema.index({ emailKey: 1 });
/**
 * The holders of a role on a location or `*` (GET /v1/locations/:id/incentives-admins: two grants, $in, merged in
 * HOLDER_ORDER) and the count of a company-wide role's. (It replaced `{ partnerId, grants }`, which a deployment may
 * drop.)
 */
UserSchema.index({ partnerId: 1, grants: 1, emailKey: 1 });
