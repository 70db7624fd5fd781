import { Type } from 'class-transformer';
import { JSONSchema } from 'class-validator-jsonschema';
import { IsArray, IsDefined, IsObject, IsOptional, IsString, Length, ValidateNested } from 'class-validator';
import { Role, Roles } from '../domain';
import { KnownWhenPublished, UserSnapshot } from './common';

export class LocationInfo {
  @IsString() locationId!: string;
  @IsString() @Length(2, 2) country!: string;
  @IsString() legalName!: string;
}

/** identity.events.v1, key partnerId. */
export class PartnerRegistered {
  @IsString() partnerId!: string;
  @IsString() name!: string;
  @IsDefined() @IsArray() @IsObject({ each: true }) @ValidateNested({ each: true }) @Type(() => LocationInfo) locations!: LocationInfo[];
}

export class LocationAdded extends LocationInfo {
  @IsString() partnerId!: string;
}

/**
 * Every user event carries the full user snapshot. Required: class-validator skips @ValidateNested on a missing
 * value (and walks an array as a list), so without @IsDefined/@IsObject `data: {}` would pass and fail in the handler.
 */
export class UserEvent {
  @IsDefined() @IsObject() @ValidateNested() @Type(() => UserSnapshot) user!: UserSnapshot;
}
export class UserCreated extends UserEvent {
  @IsOptional() @IsString() externalId?: string;
}
export class UserUpdated extends UserEvent {}
export class UserDeactivated extends UserEvent {}

export class RoleChange extends UserEvent {
  /** One of Roles, or a role a later identity added (its user's snapshot carries what is applied). */
  @JSONSchema({ description: `One of ${Roles.join(', ')}, or a role a later version adds (its consumers read it as no role of theirs).` })
  @KnownWhenPublished(Roles)
  role!: Role | (string & {});
  /** The locations this change granted or revoked (`['*']` for all). */
  @IsArray() @IsString({ each: true }) locationIds!: string[];
  @IsOptional() @IsString() changedBy?: string;
}
export class RoleAssigned extends RoleChange {}
export class RoleRevoked extends RoleChange {}


export const IdentityEventTypes = {
  PartnerRegistered,
  LocationAdded,
  UserCreated,
  UserUpdated,
  UserDeactivated,
  RoleAssigned,
  RoleRevoked,
} as const;

/** The events that carry a whole user (UserSnapshot): each replaces what a view holds of that user. */
export const UserEventTypes = ['UserCreated', 'UserUpdated', 'UserDeactivated', 'RoleAssigned', 'RoleRevoked'] as const satisfies ReadonlyArray<keyof typeof IdentityEventTypes>;
export type UserEventType = (typeof UserEventTypes)[number];

/** Whether an identity event's type is one of UserEventTypes. */
export function isUserEvent(type: string): type is UserEventType {
  return (UserEventTypes as readonly string[]).includes(type);
}
