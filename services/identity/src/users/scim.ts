import { isBlankText } from '@lib/contracts';
import { isDeliverableEmail, textProblem, wellFormed } from '@lib/platform';
import { emailKey } from './email-key';
import type { UserChange } from './users.repository';

/** `deactivatedBy` of a user a directory import deactivated (an admin's deactivation records the admin's user id). */
export const BY_DIRECTORY = 'DIRECTORY';

/**
 * A directory user, as the platform keeps it. A name the entry does not carry is absent, and an import keeps the stored
 * one; a name part sent empty (`""` or null) is null, and clears the stored one.
 */
export interface DirectoryUser {
  externalId: string;
  email: string;
  /** Absent when the entry has no displayName, name.formatted or name parts: a new user is then named by its email. */
  displayName?: string;
  givenName?: string | null;
  familyName?: string | null;
  active: boolean;
}

/**
 * A resource that cannot be imported says why; `inactive` when it names its externalId and says `active: false`
 * whatever else is wrong with it: the user it names is deactivated all the same (the directory wins).
 */
export type MappedResource =
  | { index: number; ok: true; user: DirectoryUser }
  | { index: number; ok: false; externalId?: string; reason: string; inactive?: true };

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && !isBlankText(value) ? value.trim() : undefined;

/**
 * A SCIM attribute of `object` by its name, in any case (RFC 7643 2.1: attribute names are case-insensitive; a
 * converted export may send `Active` or `ExternalId`): the one spelled as named when both are there.
 */
function attribute(object: Record<string, unknown>, name: string): unknown {
  const key = attributeKey(object, name);
  return key === undefined ? undefined : object[key];
}

const hasAttribute = (object: Record<string, unknown>, name: string): boolean => attributeKey(object, name) !== undefined;

/** The key `object` holds attribute `name` under (attribute), undefined when it has none. */
function attributeKey(object: Record<string, unknown>, name: string): string | undefined {
  if (name in object) return name;
  const lower = name.toLowerCase();
  return Object.keys(object).find((candidate) => candidate.toLowerCase() === lower);
}

const isTrue = (value: unknown): boolean => value === true || (typeof value === 'string' && value.toLowerCase() === 'true');

/**
 * The user's email: the primary one (else the first), else the userName, else another of the emails; the first of
 * those that is a deliverable address (a primary one the directory holds wrongly, `grace@contoso`, does not hide a
 * userName that is one). None: the chosen one as it is, refused by the caller.
 */
function primaryEmail(resource: Record<string, unknown>): string | undefined {
  const listed = attribute(resource, 'emails');
  const emails = Array.isArray(listed) ? (listed as unknown[]) : [];
  const value = (e: Record<string, unknown>) => text(attribute(e, 'value'));
  const entries = emails.filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null && value(e as Record<string, unknown>) !== undefined);
  const chosen = entries.find((e) => isTrue(attribute(e, 'primary'))) ?? entries[0];
  const candidates = [chosen && value(chosen), text(attribute(resource, 'userName')), ...entries.filter((e) => e !== chosen).map(value)];
  return candidates.find((candidate) => isDeliverableEmail(candidate)) ?? (chosen && value(chosen));
}

/** A name part: its text, null when sent empty (`""`, blanks or null), undefined when not sent (or not a string). */
function namePart(name: Record<string, unknown>, field: 'givenName' | 'familyName'): string | null | undefined {
  if (!hasAttribute(name, field)) return undefined;
  const value = attribute(name, field);
  if (value === null || (typeof value === 'string' && isBlankText(value))) return null;
  return text(value);
}

function activeFlag(value: unknown): boolean | undefined {
  if (value === undefined || value === null) return true;
  if (typeof value === 'boolean') return value;
  // Blanks around it taken away (`"false "` from an export: refused, the user it disables stayed active).
  if (typeof value === 'string' && /^(true|false)$/i.test(value.trim())) return value.trim().toLowerCase() === 'true';
  return undefined;
}

/** `value` cut to `max` UTF-16 units, not inside a character written with two; trailing blanks dropped. */
function atMost(max: number, value: string | undefined): string | undefined {
  if (value === undefined || value.length <= max) return value;
  const cut = /[\ud800-\udbff]/.test(value[max - 1]) ? value.slice(0, max - 1) : value.slice(0, max);
  return cut.trimEnd();
}

/**
 * Maps one SCIM 2.0 User resource (RFC 7643 core schema, as Entra ID exports it) to a directory user, or says
 * why it cannot be imported. Attributes the platform does not use are ignored.
 */
export function mapScimUser(resource: unknown, index: number): MappedResource {
  const mapped = mapResource(resource, index);
  if (mapped.ok || mapped.externalId === undefined) return mapped;
  return activeFlag(attribute(resource as Record<string, unknown>, 'active')) === false ? { ...mapped, inactive: true } : mapped;
}

function mapResource(resource: unknown, index: number): MappedResource {
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    return { index, ok: false, reason: 'resource is not a SCIM User object' };
  }
  const r = resource as Record<string, unknown>;
  const externalId = text(attribute(r, 'externalId'));
  if (!externalId) return { index, ok: false, reason: 'externalId is required' };
  // Echoed in the result only when well-formed: answered, then stored with the Idempotency-Key's answer, a lone
  // surrogate would come back to a retry as U+FFFD.
  const shown = wellFormed(externalId) ? { externalId } : {};
  if (externalId.length > 256) return { index, ok: false, ...shown, reason: 'externalId is longer than 256 characters' };
  const email = primaryEmail(r);
  if (!isDeliverableEmail(email)) {
    return { index, ok: false, ...shown, reason: 'no valid email address (emails[].value or userName)' };
  }
  const sentName = attribute(r, 'name');
  const name = typeof sentName === 'object' && sentName !== null ? (sentName as Record<string, unknown>) : {};
  const sentDisplayName = text(attribute(r, 'displayName'));
  const formatted = text(attribute(name, 'formatted'));
  const givenName = namePart(name, 'givenName');
  const familyName = namePart(name, 'familyName');
  if ((givenName?.length ?? 0) > 200 || (familyName?.length ?? 0) > 200) {
    return { index, ok: false, ...shown, reason: 'name.givenName and name.familyName are at most 200 characters' };
  }
  // Only what the directory sent: the email is a new user's name (createdName), never a stored name's replacement.
  // One the directory did not send as such (name.formatted, the name parts joined) is cut to fit, not refused.
  const displayName = sentDisplayName ?? atMost(200, formatted ?? ([givenName, familyName].filter(Boolean).join(' ') || undefined));
  // The request's own check leaves a directory export's resources to this one (an attribute the import ignores may
  // hold anything): what it keeps must be text the database stores as sent.
  if (![externalId, givenName, familyName, displayName].every((value) => typeof value !== 'string' || wellFormed(value))) {
    return { index, ok: false, ...shown, reason: 'externalId and the names must be well-formed Unicode text (a lone surrogate)' };
  }
  if ((displayName?.length ?? 0) > 200) return { index, ok: false, ...shown, reason: 'displayName is longer than 200 characters' };
  // The names are shown in emails and lists, as POST /v1/users's (Text): something visible, no control character or
  // bidirectional override (U+202E would make a name read other than it is stored).
  // The display name is reported by the attribute it came from.
  const displayNameFrom = sentDisplayName !== undefined ? 'displayName' : formatted !== undefined ? 'name.formatted' : 'name';
  for (const [field, value] of [[displayNameFrom, displayName], ['name.givenName', givenName], ['name.familyName', familyName]] as const) {
    const problem = typeof value === 'string' ? textProblem(value) : null;
    if (problem) return { index, ok: false, ...shown, reason: `${field} ${problem}` };
  }
  const active = activeFlag(attribute(r, 'active'));
  if (active === undefined) return { index, ok: false, ...shown, reason: 'active must be true or false' };
  return {
    index,
    ok: true,
    user: {
      externalId,
      email,
      ...(displayName !== undefined && { displayName }),
      ...(givenName !== undefined && { givenName }),
      ...(familyName !== undefined && { familyName }),
      active,
    },
  };
}

/**
 * Maps every resource; a second entry with the same externalId or email is rejected, the first one wins (one refused
 * for its own fault claims neither, unless it is inactive, which still deactivates its user). An inactive
 * entry claims no email (a directory may give a leaver's address to a new hire): one whose email an earlier entry
 * holds still deactivates its user, its email left as it is.
 */
export function mapScimResources(resources: unknown[]): MappedResource[] {
  const externalIds = new Set<string>();
  const emails = new Set<string>();
  return resources.map((resource, index) => {
    const mapped = mapScimUser(resource, index);
    // One that cannot be imported but deactivates its user (inactive) counts as its externalId's entry too.
    if (!mapped.ok && mapped.inactive) {
      if (externalIds.has(mapped.externalId!)) return { index, ok: false, externalId: mapped.externalId, reason: 'externalId appears more than once in this import' };
      externalIds.add(mapped.externalId!);
    }
    if (!mapped.ok) return mapped;
    const { externalId, email, active } = mapped.user;
    if (externalIds.has(externalId)) return { index, ok: false, externalId, reason: 'externalId appears more than once in this import' };
    if (!active) {
      externalIds.add(externalId);
      return emails.has(emailKey(email)) ? { index, ok: false, externalId, reason: 'email appears more than once in this import', inactive: true } : mapped;
    }
    if (emails.has(emailKey(email))) return { index, ok: false, externalId, reason: 'email appears more than once in this import' };
    externalIds.add(externalId);
    emails.add(emailKey(email));
    return mapped;
  });
}

/**
 * The display name of a user an import creates: the directory's, else its email (names are at most 200 characters: a
 * longer email gives its local part, at most 64).
 */
export const createdName = (incoming: DirectoryUser): string =>
  incoming.displayName ?? (incoming.email.length <= 200 ? incoming.email : incoming.email.slice(0, incoming.email.lastIndexOf('@')));

/** The stored fields an import compares. */
export interface KnownUser {
  email: string;
  displayName: string;
  givenName?: string;
  familyName?: string;
  active: boolean;
  /** Who deactivated an inactive user (BY_DIRECTORY or an admin's user id); absent counts as an admin. */
  deactivatedBy?: string;
  externalId?: string;
}

const NOT_REACTIVATED = 'deactivated by an admin: not reactivated';

export type ImportPlan =
  | { action: 'create' }
  | { action: 'update' | 'deactivate'; change: UserChange; reason: string }
  | { action: 'unchanged'; reason?: string };

/**
 * What importing `incoming` does to the user already known for it (matched by externalId, or by email when the
 * user was created by hand and is not linked to the directory yet). Names and email follow the directory; an
 * inactive entry deactivates; an active entry reactivates a user only if the directory had deactivated it (an
 * admin's deactivation stands: the user kept its roles, and reactivating would silently give them back). Roles are
 * never touched.
 */
export function planImport(existing: KnownUser | undefined, incoming: DirectoryUser): ImportPlan {
  if (!existing) {
    return incoming.active ? { action: 'create' } : { action: 'unchanged', reason: 'inactive in the directory and not known here: not created' };
  }
  const change: UserChange = {};
  const changed: string[] = [];
  if (existing.externalId === undefined) {
    change.externalId = incoming.externalId;
    changed.push('linked to the directory by email');
  }
  if (existing.email !== incoming.email) {
    change.email = incoming.email;
    changed.push('email');
  }
  // A name the entry does not carry stays as stored; a name part sent empty clears the stored one.
  if (incoming.displayName !== undefined && existing.displayName !== incoming.displayName) {
    change.displayName = incoming.displayName;
    changed.push('displayName');
  }
  for (const field of ['givenName', 'familyName'] as const) {
    const wanted = incoming[field];
    if (wanted !== undefined && (existing[field] ?? null) !== wanted) {
      change[field] = wanted;
      changed.push(field);
    }
  }
  if (existing.active && !incoming.active) {
    return { action: 'deactivate', change: { ...change, active: false, deactivatedBy: BY_DIRECTORY }, reason: ['inactive in the directory', ...changed].join('; ') };
  }
  if (!existing.active && incoming.active) {
    if (existing.deactivatedBy === BY_DIRECTORY) {
      return { action: 'update', change: { ...change, active: true, deactivatedBy: null }, reason: ['reactivated', ...changed].join('; ') };
    }
    // An admin's deactivation stands; names and email still follow the directory.
    return changed.length === 0 ? { action: 'unchanged', reason: NOT_REACTIVATED } : { action: 'update', change, reason: [NOT_REACTIVATED, ...changed].join('; ') };
  }
  if (changed.length === 0) return { action: 'unchanged' };
  return { action: 'update', change, reason: changed.join('; ') };
}
