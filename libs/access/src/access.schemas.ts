import { Role } from '@lib/contracts';
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
  @Prop({ required: true, index: true }) partnerId!: string;
  @Prop({ required: true }) email!: string;
  @Prop({ required: true }) displayName!: string;
  @Prop({ required: true }) active!: boolean;
  @Prop({ type: [AccessRole], default: [] }) roles!: AccessRole[];
  /** `ROLE:locationId` (or `ROLE:*`) for each grant: plain array membership, which every server can query. */
  @Prop({ type: [String], default: [] }) grants!: string[];
  @Prop({ required: true }) revision!: number;
}
export const AccessUserSchema = SchemaFactory.createForClass(AccessUser);
AccessUserSchema.index({ partnerId: 1, grants: 1 });

export function grantKeys(roles: Array<{ role: string; locationIds: string[] }>): string[] {
  return roles.flatMap((r) => r.locationIds.map((locationId) => `${r.role}:${locationId}`));
}

@Schema({ collection: 'access_locations', versionKey: false })
export class AccessLocation {
  /** The location PartnerID. */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true, index: true }) partnerId!: string;
  @Prop({ required: true }) country!: string;
  @Prop({ required: true }) legalName!: string;
}
export const AccessLocationSchema = SchemaFactory.createForClass(AccessLocation);
