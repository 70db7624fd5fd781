import { CONFIG, Principal, ProblemException, Problems, RetryableProblem } from '@lib/platform';
import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Actor, IdentityAccess } from '../../access/identity-access';
import type { IdentityConfig } from '../../config';
import { ImportOutcome, ImportReportView, ImportResultView, SCIM_LIST_RESPONSE, ScimListResponseInput } from '../dto/import.dto';
import { GlobalAdminKeeper, LastGlobalAdminError } from '../global-admin-keeper';
import { createdName, DirectoryUser, mapScimResources, planImport } from '../scim';
import { User } from '../user.schema';
import { DuplicateUserError, emailKey, UsersRepository } from '../users.repository';

const ATTEMPTS = 3;
const LEAVER_NOT_LINKED = 'inactive in the directory, with the email of an active entry of this import: not linked to the user who has that email';

/**
 * The Global admin imports a directory export (SCIM 2.0 ListResponse). Idempotent by externalId: importing the
 * same file again reports every user unchanged and emits nothing. Each user is one write with its own event;
 * imported users get no role.
 */
@Injectable()
export class ImportUsers {
  constructor(
    private readonly access: IdentityAccess,
    private readonly users: UsersRepository,
    private readonly globalAdmins: GlobalAdminKeeper,
    @Inject(CONFIG) private readonly config: IdentityConfig,
  ) {}

  async execute(principal: Principal, input: ScimListResponseInput): Promise<ImportReportView> {
    let actor = await this.access.actor(principal);
    this.access.require(actor, 'users.import', 'import users');
    if (!input.schemas.includes(SCIM_LIST_RESPONSE)) throw Problems.field('schemas', `must contain "${SCIM_LIST_RESPONSE}"`);
    const resources = input.Resources ?? [];
    if (resources.length > this.config.IMPORT_MAX_USERS) {
      throw Problems.field('Resources', `must contain at most ${this.config.IMPORT_MAX_USERS} users per request; split the export`);
    }

    const mapped = mapScimResources(resources);
    const valid = mapped.flatMap((m) => (m.ok ? [m.user] : []));
    const inactive = mapped.flatMap((m) => (!m.ok && m.inactive ? [m.externalId!] : []));
    const byExternalId = new Map((await this.users.findManyByExternalId(actor.partnerId, [...valid.map((u) => u.externalId), ...inactive])).map((u) => [u.externalId!, u]));
    const byEmail = new Map((await this.users.findManyByEmail(actor.partnerId, valid.map((u) => u.email))).map((u) => [u.emailKey, u]));
    // The active entry of each email of the file (one each: mapScimResources). The user with that email is that entry's
    // (linked to it, or created by hand and linked by it now), never an inactive entry's (a leaver's, whose address the
    // directory gave to a new hire): linking it to the leaver would deactivate the new hire, in whichever order the two
    // entries come, and the same file imported again would reject the leaver's entry. A user created by hand while the
    // active entry is linked to another user (that user moving to the address) is the leaver's to deactivate, as before.
    const activeByEmail = new Map(valid.flatMap((u) => (u.active ? [[emailKey(u.email), u.externalId] as const] : [])));
    const heldForActiveEntry = (holder: User | undefined, email: string): boolean => {
      const active = activeByEmail.get(emailKey(email));
      if (!holder || active === undefined) return false;
      return holder.externalId === active || (holder.externalId === undefined && !byExternalId.has(active));
    };

    const results: ImportResultView[] = [];
    let stopped: string | undefined;
    let imported = 0;
    for (const entry of mapped) {
      // An entry that cannot be imported but says its known user is inactive deactivates that user all the same (its
      // other attributes left as they are): a directory name too long, an email missing or taken would otherwise keep
      // a user the directory disabled active, with every role.
      const deactivating = !entry.ok && entry.inactive ? byExternalId.get(entry.externalId!) : undefined;
      if (!entry.ok && !deactivating) {
        results.push({ index: entry.index, ...(entry.externalId && { externalId: entry.externalId }), outcome: 'rejected', reason: entry.reason });
        continue;
      }
      // The importer as they are now, before each write after the first (read above): one deactivated, or no longer a
      // Global admin, while a long file runs imports nothing more under the authority they lost (rejected, with why).
      // One still allowed goes on as they are now (a role granted meanwhile is no change of the importer that a
      // deactivation of a Global admin, checked against the importer as read, should stop at).
      if (imported++ > 0 && !stopped) {
        const now = await this.importer(principal);
        if (typeof now === 'string') stopped = now;
        else actor = now;
      }
      if (stopped) {
        results.push({ index: entry.index, externalId: entry.ok ? entry.user.externalId : entry.externalId, outcome: 'rejected', reason: stopped });
        continue;
      }
      if (!entry.ok) {
        results.push({ index: entry.index, externalId: entry.externalId, ...(await this.deactivateOnly(actor, deactivating!, entry.reason)) });
        continue;
      }
      const linked = byExternalId.get(entry.user.externalId);
      if (!linked && !entry.user.active && heldForActiveEntry(byEmail.get(emailKey(entry.user.email)), entry.user.email)) {
        results.push({ index: entry.index, externalId: entry.user.externalId, email: entry.user.email, outcome: 'unchanged', reason: LEAVER_NOT_LINKED });
        continue;
      }
      let known = linked ?? byEmail.get(emailKey(entry.user.email));
      if (known && known.externalId !== undefined && known.externalId !== entry.user.externalId) {
        // Read before the file was applied: an earlier entry may have moved that user to another email since, which
        // frees this one. Read the holder of the email as it is now.
        known = (await this.users.findManyByEmail(actor.partnerId, [entry.user.email]))[0];
      }
      let result = await this.importOne(actor, entry.user, known);
      // Inactive, moved to an email another user holds: deactivated all the same, the email left as it was.
      if (result.outcome === 'rejected' && !entry.user.active && known?.externalId === entry.user.externalId && result.reason?.startsWith('email is already used')) {
        result = await this.deactivateOnly(actor, known, result.reason);
      }
      results.push({ index: entry.index, externalId: entry.user.externalId, email: entry.user.email, ...result });
    }

    const summary = { created: 0, updated: 0, deactivated: 0, unchanged: 0, rejected: 0 };
    for (const result of results) summary[result.outcome] += 1;
    return { summary, results };
  }

  /** The importing admin as they are now; why they may not import any more (deactivated, or no longer a Global admin). */
  private async importer(principal: Principal): Promise<Actor | string> {
    try {
      const actor = await this.access.actor(principal);
      this.access.require(actor, 'users.import', 'import users');
      return actor;
    } catch (error) {
      if (!(error instanceof ProblemException && error.getStatus() === HttpStatus.FORBIDDEN)) throw error;
      return 'not imported: the importing admin was deactivated, or lost the right to import users, during the import';
    }
  }

  /**
   * The user deactivated as the directory says, nothing else of the entry applied (`why`: what kept it out): planned on
   * the user as each attempt reads it, so an earlier entry's change or an admin's edit meanwhile stays as it is.
   */
  private async deactivateOnly(actor: Actor, known: User, why: string): Promise<{ outcome: ImportOutcome; userId?: string; reason?: string }> {
    const asItIs = ({ externalId, email, displayName, givenName, familyName }: User): DirectoryUser => ({ externalId: externalId!, email, displayName, givenName, familyName, active: false });
    const current = (await this.users.find(actor.partnerId, known._id)) ?? known;
    const result = await this.importOne(actor, asItIs, current);
    if (result.outcome === 'rejected') return { ...result, reason: `${result.reason}; the entry could not be imported either: ${why}` };
    return { ...result, reason: `${result.outcome === 'deactivated' ? 'deactivated as the directory says' : 'inactive already'}; the entry's other attributes not applied: ${why}` };
  }

  /** `entry`: the directory user, or how to make it of the user as each attempt reads it (deactivateOnly). */
  private async importOne(
    actor: Actor,
    entry: DirectoryUser | ((current: User) => DirectoryUser),
    known: User | undefined,
  ): Promise<{ outcome: ImportOutcome; userId?: string; reason?: string }> {
    let current = known;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const incoming = typeof entry === 'function' ? entry(current!) : entry;
      if (current?.externalId !== undefined && current.externalId !== incoming.externalId) {
        return { outcome: 'rejected', userId: current._id, reason: 'email is already used by another directory user of this partner' };
      }
      const plan = planImport(current, incoming);
      if (plan.action === 'unchanged') return { outcome: 'unchanged', ...(current && { userId: current._id }), ...(plan.reason && { reason: plan.reason }) };
      try {
        if (plan.action === 'create') {
          const user = await this.users.create({
            userId: randomUUID(),
            partnerId: actor.partnerId,
            email: incoming.email,
            displayName: createdName(incoming),
            givenName: incoming.givenName ?? undefined,
            familyName: incoming.familyName ?? undefined,
            roles: [],
            externalId: incoming.externalId,
          });
          return { outcome: 'created', userId: user._id };
        }
        if (plan.action === 'deactivate' && current!._id === actor._id) {
          return { outcome: 'rejected', userId: actor._id, reason: 'you cannot deactivate yourself' };
        }
        const known = current!;
        const write = (inTime?: () => void) => {
          inTime?.();
          return this.users.change(known, plan.change, plan.action === 'deactivate' ? 'UserDeactivated' : 'UserUpdated');
        };
        // Conditional on the revision read, so only a user read as an active Global admin can stop being one here.
        const removesGlobalAdmin = plan.action === 'deactivate' && known.roles.some((grant) => grant.role === 'GLOBAL_ADMIN');
        const updated = removesGlobalAdmin ? await this.globalAdmins.removing(actor.partnerId, known._id, actor, write) : await write();
        if (updated) return { outcome: plan.action === 'deactivate' ? 'deactivated' : 'updated', userId: updated._id, reason: plan.reason };
      } catch (error) {
        if (error instanceof LastGlobalAdminError) {
          return { outcome: 'rejected', userId: current!._id, reason: `not deactivated: ${(error.getResponse() as { detail: string }).detail}` };
        }
        // "Try again" ends the whole import with that 409 (a 200 would be kept for its Idempotency-Key): the entries
        // before it are applied, and importing the same file again (idempotent) does the rest.
        if (error instanceof RetryableProblem) throw error;
        if (!(error instanceof DuplicateUserError)) throw error;
        // Created meanwhile for the same directory entry: read it and re-plan.
        const same = (await this.users.findManyByExternalId(actor.partnerId, [incoming.externalId]))[0];
        if (same && same._id !== current?._id) {
          current = same;
          continue;
        }
        if (error.field === 'externalId') {
          return { outcome: 'rejected', ...(current && { userId: current._id }), reason: 'externalId is already used by another user of this partner' };
        }
        // A create whose email a user created by hand meanwhile holds (no externalId): linked to the entry, as one read
        // before would have been; one of another directory entry is refused at the top of the loop. An update to an
        // email another user holds is refused (re-planning it as that user would go back and forth between the two).
        const holder = plan.action === 'create' ? (await this.users.findManyByEmail(actor.partnerId, [incoming.email]))[0] : undefined;
        if (holder) {
          current = holder;
          continue;
        }
        return { outcome: 'rejected', ...(current && { userId: current._id }), reason: 'email is already used by another user of this partner' };
      }
      // Changed concurrently (stale revision): read again and re-plan.
      current = (await this.users.find(actor.partnerId, current!._id)) ?? undefined;
    }
    return { outcome: 'rejected', reason: 'the user changed while importing; import again' };
  }
}
