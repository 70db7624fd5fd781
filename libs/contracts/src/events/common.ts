import { Transform, Type } from 'class-transformer';
import { ArrayNotEmpty, IsArray, IsBoolean, IsDefined, IsEmail, IsIn, IsInt, IsObject, IsOptional, IsString, Min, ValidateNested } from 'class-validator';
import { Role, Roles } from '../domain';

/**
 * The shape of a value in a list a later version of its producer may add to (a role, a delivery channel, a payment
 * method): an upper-case name. SPEC 3: consumers accept what a later producer may add; a breaking change is a new
 * topic. States (an enrollment's, a program's, a profile's) are not such lists: a new state would be read by rules
 * that do not know it, so it stays malformed here, and a new state is a new topic version.
 */
export const ADDED_VALUE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

/**
 * Leaves out of an array the items naming a value this version does not know (by `name`, the item itself by
 * default): read as granting, asking or offering nothing it knows. Only names of the shape a producer would add
 * (ADDED_VALUE_PATTERN) are left out; anything else stays, for validation to refuse it.
 */
export function WithoutUnknown(known: readonly string[], name: (item: unknown) => unknown = (item) => item): PropertyDecorator {
  return Transform(({ value }) =>
    Array.isArray(value)
      ? value.filter((item) => {
          const named = name(item);
          return !(typeof named === 'string' && ADDED_VALUE_PATTERN.test(named) && !known.includes(named));
        })
      : value,
  );
}

/** One role of a user: company-wide roles always carry `['*']`. */
export class RoleGrant {
  @IsIn(Roles) role!: Role;
  @IsArray() @ArrayNotEmpty() @IsString({ each: true }) locationIds!: string[];
}

/** The role a grant names, where the grant is otherwise well formed (else it stays, for validation to refuse it). */
function grantedRole(grant: unknown): unknown {
  if (grant === null || typeof grant !== 'object') return undefined;
  const { role, locationIds } = grant as { role?: unknown; locationIds?: unknown };
  const located = Array.isArray(locationIds) && locationIds.length > 0 && locationIds.every((id) => typeof id === 'string');
  return located ? role : undefined;
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
  /** A role this version does not know (a later identity's) grants nothing here: left out, the rest applied. */
  @IsDefined()
  @IsArray()
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => RoleGrant)
  @WithoutUnknown(Roles, grantedRole)
  roles!: RoleGrant[];
  @IsInt() @Min(1) revision!: number;
}

export class Recipient {
  @IsString() userId!: string;
  @IsEmail() email!: string;
  @IsOptional() @IsString() displayName?: string;
}
