import { Type } from 'class-transformer';
import { ArrayNotEmpty, IsArray, IsBoolean, IsDefined, IsEmail, IsIn, IsInt, IsObject, IsOptional, IsString, Min, ValidateNested } from 'class-validator';
import { Role, Roles } from '../domain';

/** One role of a user: company-wide roles always carry `['*']`. */
export class RoleGrant {
  @IsIn(Roles) role!: Role;
  @IsArray() @ArrayNotEmpty() @IsString({ each: true }) locationIds!: string[];
}

/**
 * The whole state of a user, carried by every user and role event. Consumers keep the snapshot with the
 * highest `revision`, so duplicates, reordering and replays from the start all converge to the same view.
 */
export class UserSnapshot {
  @IsString() userId!: string;
  @IsString() partnerId!: string;
  @IsEmail() email!: string;
  @IsString() displayName!: string;
  @IsBoolean() active!: boolean;
  @IsDefined() @IsArray() @IsObject({ each: true }) @ValidateNested({ each: true }) @Type(() => RoleGrant) roles!: RoleGrant[];
  @IsInt() @Min(1) revision!: number;
}

export class Recipient {
  @IsString() userId!: string;
  @IsEmail() email!: string;
  @IsOptional() @IsString() displayName?: string;
}
