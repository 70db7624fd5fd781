import { Type } from 'class-transformer';
import { ArrayNotEmpty, IsArray, IsBoolean, IsDefined, IsEmail, IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Min, ValidateNested } from 'class-validator';
import { JSONSchema } from 'class-validator-jsonschema';
import { LogPosition, Role, Roles } from '../domain';
import { IsIsoInstant } from '../instant';

/**
 * The shape of a value in a list a later version of its producer may add to (a role, a delivery channel, a payment
 * method): an upper-case name. SPEC 3: consumers accept what a later producer may add; a breaking change is a new
 * topic. A consumer takes such a value as named (stored as it came, so that once it is upgraded to know the value
 * its views hold it, with no replay), and its rules give it no meaning: no role of theirs, no channel asked of them,
 * a method no program of theirs allows. States (an enrollment's, a program's, a profile's) are not such lists: a new
 * state would be read by rules that do not know it, so it stays malformed, and a new state is a new topic version.
 */
export const ADDED_VALUE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

/**
 * The validation group of checks only a producer makes (buildEvent validates with every check; parseEvent leaves
 * these out): a value this version does not know, which a later producer may send, is refused when publishing.
 */
export const PRODUCING = 'producing';

/** Validated as an upper-case name when read, and as one of `known` (this version's) when published. */
export function KnownWhenPublished(known: readonly string[], { each = false }: { each?: boolean } = {}): PropertyDecorator {
  const name = Matches(ADDED_VALUE_PATTERN, { each });
  const ofThisVersion = IsIn([...known], { each, groups: [PRODUCING] });
  return (target, key) => {
    name(target, key as string);
    ofThisVersion(target, key as string);
  };
}

/** One role of a user: company-wide roles always carry `['*']`. */
export class RoleGrant {
  /** One of Roles, or a role a later identity added (AccessPolicy gives it no meaning). */
  @JSONSchema({ description: `One of ${Roles.join(', ')}, or a role a later version adds (its consumers read it as no role of theirs).` })
  @KnownWhenPublished(Roles)
  role!: Role | (string & {});
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

/** Where a decision was read: its partition of eligibility.decisions.v1 and its offset there. */
export class DecisionPosition {
  @IsInt() @Min(0) partition!: number;
  @Matches(/^\d{1,19}$/) offset!: string;
}

/** An eligibility decision as a service read it (its event on eligibility.decisions.v1). */
export class DecisionRef {
  @IsString() eventId!: string;
  /** The decision's `occurredAt` (with its offset, as every event's). */
  @IsIsoInstant() decidedAt!: string;
  /**
   * Where the service read it (absent where it was kept before positions were): of two decisions made at the same
   * instant, the one read later is the later (laterThanNamed).
   */
  @IsOptional() @IsObject() @ValidateNested() @Type(() => DecisionPosition) position?: DecisionPosition;
}

/**
 * A decision as events name it: its id, its time and where it was read, nothing more (a view's decision, or one a
 * consumed event named, may hold more, which the contract of the event naming it would refuse).
 */
export function decisionRef(decision: { eventId: string; decidedAt: Date | string; position?: LogPosition | null }): DecisionRef {
  const { position } = decision;
  return {
    eventId: decision.eventId,
    decidedAt: new Date(decision.decidedAt).toISOString(),
    ...(position && { position: { partition: position.partition, offset: String(position.offset) } }),
  };
}
