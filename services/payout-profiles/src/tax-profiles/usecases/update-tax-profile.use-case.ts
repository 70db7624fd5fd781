import { pushOutbox } from '@lib/messaging';
import { Clock, Principal, Problems } from '@lib/platform';
import { Injectable, Logger } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import { comparable } from '../../common/comparable';
import { PayoutAccess } from '../../profiles/payout-access';
import { ProfileEvents } from '../../profiles/profile-events';
import { throwIfProblems } from '../../profiles/problems';
import { SecretBox, superseded } from '../../secrets/secret-box';
import { UpdateTaxProfileDto } from '../dto/tax-profile.dto';
import { BusinessProfile, TaxDocument, TaxProfile } from '../tax-profile.schema';
import { TaxProfilesRepository } from '../tax-profiles.repository';
import { checkTaxDetails, FORM_FOR, expiryProblems, sealTaxIds, taxIdInTextProblems, TaxTexts, toDocuments } from '../tax-rules';

/**
 * Changes the tax profile of a location (If-Match). A real change is a new revision, pending validation, with a
 * validation request; the same details sent again change nothing, unless the profile is `ACTION_REQUIRED` (they submit
 * it again: a new revision). Tax ids left out are kept while the incorporation and its country stay the same (another
 * one with a stored id left out: 400, the id is sent again or null); `taxId: null` / `vatId: null`
 * remove them (a US TIN is required, so it can only be replaced).
 */
@Injectable()
export class UpdateTaxProfile {
  private readonly logger = new Logger(UpdateTaxProfile.name);

  constructor(
    private readonly access: PayoutAccess,
    private readonly profiles: TaxProfilesRepository,
    private readonly secrets: SecretBox,
    private readonly events: ProfileEvents,
    private readonly clock: Clock,
  ) {}

  async execute(principal: Principal, locationId: string, expectedVersion: number, input: UpdateTaxProfileDto): Promise<TaxProfile> {
    const { actor } = await this.access.locationAdmin(principal, locationId, 'create or edit its tax profile');
    const current = await this.profiles.findForLocation(actor.partnerId, locationId);
    if (!current) throw Problems.notFound(`Tax profile of location ${locationId}`);
    if (current.version !== expectedVersion) throw Problems.preconditionFailed(current.version);
    if (Object.values(input).every((v) => v === undefined)) {
      throw Problems.field('body', 'must change at least one field of the tax profile');
    }

    const id = current._id;
    // A stored id this change keeps that does not open (its key removed from PAYOUT_ENCRYPTION_KEYS) cannot be checked or
    // sent to validation with the new revision: 409 naming it, as a bank profile's unreadable account; the change comes
    // with the id (or null), which replaces it, or waits for the key to be put back.
    // The stored ids, opened once: a value, UNREADABLE, or undefined (none).
    const stored = {
      taxId: current.sealedTaxId && (this.secrets.openIfAvailable(current.sealedTaxId, `${id}:taxId`) ?? UNREADABLE),
      vatId: current.sealedVatId && (this.secrets.openIfAvailable(current.sealedVatId, `${id}:vatId`) ?? UNREADABLE),
    };
    const unreadable: Array<'taxId' | 'vatId'> = [];
    const open = (field: 'taxId' | 'vatId') => {
      if (stored[field] !== UNREADABLE) return stored[field];
      unreadable.push(field);
      return undefined;
    };
    const incorporation = input.incorporation ?? current.incorporation;
    // Tax ids are a country's: another incorporation, or another country of incorporation, keeps none. A stored one
    // the request does not send, of a kind a non-US incorporation holds (a foreign TIN, a VAT id: both optional), is not
    // dropped without a word (a country corrected would lose them): 400, send it for the new one, or null to remove it.
    // A US incorporation requires its TIN (checkTaxDetails says so) and holds no VAT id (dropped).
    const sameIncorporation = incorporation === current.incorporation && (input.incorporationCountry ?? current.incorporationCountry) === current.incorporationCountry;
    const leftOut =
      sameIncorporation || incorporation === 'US'
        ? []
        : (
            [
              ['taxId', current.sealedTaxId, 'tax id (TIN)'],
              ['vatId', current.sealedVatId, 'VAT id'],
            ] as const
          )
            .filter(([field, stored]) => stored && input[field] === undefined)
            .map(([field, , what]) => ({ field, message: `the stored ${what} was for the incorporation before: send the one for the new incorporation or country, or null to remove it` }));
    // Omitted (undefined): the stored one, while the incorporation stays; null: none (removed). A blank one is refused
    // (DTO and checkTaxDetails), so it cannot remove a stored tax id unnoticed.
    const given = (value: string | null | undefined, field: 'taxId' | 'vatId') => (value === null ? undefined : value ?? (sameIncorporation ? open(field) : undefined));
    const candidate = {
      incorporation,
      incorporationCountry: input.incorporationCountry ?? current.incorporationCountry,
      taxForm: input.taxForm,
      taxId: given(input.taxId, 'taxId'),
      vatId: given(input.vatId, 'vatId'),
      // A VAT id stored before its layout was checked, left out: no new claim to check. One sent is checked, also the
      // stored one sent again (exempted, a refusal would tell whether a guess was the stored one).
      vatIdChecked: typeof input.vatId === 'string',
    };
    if (unreadable.length) {
      this.logger.warn(`tax profile ${id}: its stored ${unreadable.join(' and ')} does not open; a change keeping it was refused`);
      // A US TIN is required: sent again, not removed.
      const removable = incorporation !== 'US';
      throw Problems.conflict(
        `The stored ${unreadable.map((field) => (field === 'taxId' ? 'tax id' : 'VAT id')).join(' and ')} of tax profile ${id} cannot be read; send ${unreadable.join(' and ')}${removable ? ' (or null to remove it)' : ''} with this change.`,
        { errors: unreadable.map((field) => ({ field, message: 'is required with this change while the stored one cannot be read' })) },
      );
    }
    const { problems, details } = checkTaxDetails(candidate);
    // Another form (a US incorporation corrected to a non-US one, or back): the documents are the signed form, and its
    // expiry that form's; the stored ones are the other form's, which would be sent to validation as this one's.
    // The form follows from the incorporation alone: said with any other problem of the request, not after it is fixed.
    const form = FORM_FOR[incorporation];
    const formChanged = form !== current.taxForm;
    const otherForm = formChanged
      ? (['documents', 'expiresAt'] as const)
          .filter((field) => input[field] === undefined)
          .map((field) => ({ field, message: `is required when the tax form changes (${current.taxForm} to ${form}): the stored ${field === 'documents' ? 'documents are' : 'expiry is'} the ${current.taxForm}'s` }))
      : [];
    throwIfProblems([
      ...leftOut,
      ...problems.filter((p) => !leftOut.some((l) => l.field === p.field)),
      ...otherForm,
      // The W-8BEN-E's limit on a date this request sets, or that its form is new to: the stored one sent back as it is
      // (a client sending every field it read) is no new claim.
      ...(input.expiresAt ? expiryProblems(input.expiresAt, this.clock.now(), sameInstant(input.expiresAt, current.expiresAt) && !formChanged ? undefined : form) : []),
    ]);

    const next = {
      businessProfile: input.businessProfile ? JSON.parse(JSON.stringify(input.businessProfile)) : current.businessProfile,
      incorporation: details!.incorporation,
      incorporationCountry: details!.incorporationCountry,
      taxForm: details!.taxForm,
      documents: input.documents ? toDocuments(input.documents) : current.documents,
      expiresAt: input.expiresAt ? new Date(input.expiresAt) : new Date(current.expiresAt),
    };
    const before = {
      businessProfile: current.businessProfile,
      incorporation: current.incorporation,
      incorporationCountry: current.incorporationCountry,
      taxForm: current.taxForm,
      documents: current.documents.map(({ fileName, contentType, sizeBytes, uploadedAt }) => ({ fileName, contentType, sizeBytes, uploadedAt })),
      expiresAt: new Date(current.expiresAt),
      // Stored ids that do not open (a key removed) count as different from any sent: this edit replaces them.
      taxId: stored.taxId,
      vatId: stored.vatId,
    };
    // The texts as they end up against the ids as they end up: every text when an id changes, else the texts this request
    // changes (a PATCH sends the business profile and the documents whole: what it sends again as stored, stored before
    // this check, is left alone), as a bank profile's names are.
    // Every text when the request sends an id (whether it is the stored one or not: chosen by that, the texts checked
    // would tell which), or removes one; else the texts it changes.
    const idsSent = typeof input.taxId === 'string' || typeof input.vatId === 'string';
    const idsChanged = idsSent || !details!.taxId !== !before.taxId || !details!.vatId !== !before.vatId;
    // An id sent, whole (its author knows it); one stored, which its caller is shown masked, by the last four the API
    // shows of it only (StoredSecret: compared whole, the answer would tell whether a text sent held it).
    const ids = {
      taxId: typeof input.taxId === 'string' ? details!.taxId : { stored: details!.taxId },
      vatId: typeof input.vatId === 'string' ? details!.vatId : { stored: details!.vatId },
    };
    throwIfProblems(
      idsChanged
        ? taxIdInTextProblems(ids, next.businessProfile, next.documents)
        : taxIdInTextProblems(ids, changedTexts(next.businessProfile, current.businessProfile), newDocuments(next.documents, current.documents)),
    );
    // The same details sent again change nothing, except on a profile the back office sent back (Action required):
    // they submit it again, a new revision validated anew.
    // A null stored before nulls were refused (`doingBusinessAs: null`) is the field left out: the same details.
    // An id sent is a new revision, whether or not it is the stored one (answered as no change when it is, or refused
    // for an expiry that passed only when it is not, the answer would tell an editor shown ****6789 whether a guess was
    // the id).
    const same = !idsSent && isDeepStrictEqual(comparable({ ...next, taxId: details!.taxId, vatId: details!.vatId }), comparable(before));
    if (same && current.status !== 'ACTION_REQUIRED') return current;
    // A new revision goes to validation with the expiry date it ends up with: one that has passed is refused whether
    // this request sent it or left the stored one.
    if (!input.expiresAt) throwIfProblems(expiryProblems(next.expiresAt.toISOString(), this.clock.now()));

    const now = this.clock.now();
    const sealed = sealTaxIds(this.secrets, id, details!);
    // The ids this revision replaces or removes, recognisable (not readable) when a late result for an older revision
    // quotes one.
    const replaced = [
      [before.taxId, details!.taxId],
      [before.vatId, details!.vatId],
    ].flatMap(([old, now]) => (old && old !== UNREADABLE && old !== now ? [this.secrets.digest(old)] : []));
    const changes = {
      ...next,
      ...sealed,
      ...(replaced.length && { supersededSecrets: superseded(current.supersededSecrets, replaced) }),
      status: 'PENDING_VALIDATION' as const,
      reasons: [],
      revision: current.revision + 1,
      revisedAt: now,
      version: current.version + 1,
      updatedBy: actor.userId,
      updatedAt: now,
    };
    const unset: Record<string, 1> = {};
    if (!details!.taxId) Object.assign(unset, { sealedTaxId: 1, maskedTaxId: 1 });
    if (!details!.vatId) Object.assign(unset, { sealedVatId: 1, maskedVatId: 1 });
    // A new expiry date may need its own expiry reminder.
    if (next.expiresAt.getTime() !== new Date(current.expiresAt).getTime()) unset.expiryReportedFor = 1;

    const updated: TaxProfile = { ...current, ...changes };
    for (const field of Object.keys(unset)) delete (updated as unknown as Record<string, unknown>)[field];
    const written = await this.profiles.updateForPartner(
      actor.partnerId,
      id,
      { version: expectedVersion },
      {
        $set: changes,
        ...(Object.keys(unset).length && { $unset: unset }),
        $push: pushOutbox(this.events.newRevision('TAX', 'ProfileUpdated', updated)),
      },
    );
    if (!written) {
      const latest = await this.profiles.findForLocation(actor.partnerId, locationId);
      throw Problems.preconditionFailed(latest?.version ?? current.version);
    }
    this.events.committed();
    return updated;
  }
}

/** Stands for a stored tax id that does not open: equal to no id sent (ids are printable characters). */
const UNREADABLE = '\u0000unreadable';

/** The texts of `next` that differ from `stored` (the others left out). */
function changedTexts(next: BusinessProfile, stored: BusinessProfile): TaxTexts {
  const differs = <T>(a: T, b: T) => (a !== b ? a : undefined);
  return {
    legalName: differs(next.legalName, stored.legalName),
    doingBusinessAs: differs(next.doingBusinessAs, stored.doingBusinessAs),
    contactEmail: differs(next.contactEmail, stored.contactEmail),
    address: { line1: differs(next.address?.line1, stored.address?.line1), line2: differs(next.address?.line2, stored.address?.line2) },
  };
}

/** The documents of `next` whose file name no stored document has (a document sent again as stored is left out). */
function newDocuments(next: TaxDocument[], stored: TaxDocument[]): TaxDocument[] {
  const names = new Set(stored.map((document) => document.fileName));
  return next.filter((document) => !names.has(document.fileName));
}

function sameInstant(given: string, stored: Date | string): boolean {
  return new Date(given).getTime() === new Date(stored).getTime();
}
