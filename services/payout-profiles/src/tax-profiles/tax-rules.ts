import type { FieldProblem } from '@lib/platform';
import { typedIdentifier } from '../common/typed-identifier';
import { vatLayoutProblem } from '../reference/vat';
import { maskSecret } from '../secrets/masking';
import type { SecretBox } from '../secrets/secret-box';
import type { TaxDocumentDto } from './dto/tax-profile.dto';
import type { TaxDocument } from './tax-profile.schema';
import { secretsInTextProblems, StoredSecret } from '../profiles/secrets-in-text';

export const Incorporations = ['US', 'NON_US'] as const;
export type Incorporation = (typeof Incorporations)[number];
export const TaxForms = ['W-9', 'W-8BEN-E'] as const;
export type TaxForm = (typeof TaxForms)[number];

/** The form each incorporation files: US entities a W-9 with their TIN, others a W-8BEN-E. */
export const FORM_FOR: Record<Incorporation, TaxForm> = { US: 'W-9', NON_US: 'W-8BEN-E' };

export interface TaxDetailsInput {
  incorporation: Incorporation;
  incorporationCountry: string;
  taxForm?: TaxForm;
  /** Absent or null: none. Blank is refused (it is not "none"). */
  taxId?: string | null;
  vatId?: string | null;
  /**
   * False for a VAT id stored before its country's layout was checked, which the request leaves as it is: taken on the
   * general rule (a change of other fields is not refused for it).
   */
  vatIdChecked?: boolean;
}

export interface CheckedTaxDetails {
  incorporation: Incorporation;
  incorporationCountry: string;
  taxForm: TaxForm;
  /** Secrets, normalized; encrypted before they are stored. */
  taxId?: string;
  vatId?: string;
}

/** As people write tax ids (`12-3456789`, `12–3456789` pasted from a PDF, `DE 123.456.789`, `12/345/67890`). */
/** A tax or VAT id as stored: as typed, without blanks, dashes, dots or slashes, upper case. */
export const typedTaxId = (value: string) => typedIdentifier(value, './');

/**
 * US: TIN of 9 digits (EIN 12-3456789 or SSN/ITIN 123-45-6789 accepted), form W-9, no VAT id.
 * Non-US: form W-8BEN-E, optional foreign TIN and optional VAT/GST id (4 to 20 letters or digits; one written with a
 * European prefix, DE123456789, in that country's layout: vatLayoutProblem).
 * A tax id left out or null is none; a blank one is refused ("must not be blank"), never read as none.
 * Messages never repeat the value, which may be a secret.
 */
export function checkTaxDetails(input: TaxDetailsInput): { problems: FieldProblem[]; details?: CheckedTaxDetails } {
  const problems: FieldProblem[] = [];
  const { incorporation } = input;
  const country = input.incorporationCountry;
  const form = FORM_FOR[incorporation];
  if (incorporation === 'US' && country !== 'US') {
    problems.push({ field: 'incorporationCountry', message: 'must be US for a US incorporation' });
  }
  if (incorporation === 'NON_US' && country === 'US') {
    problems.push({ field: 'incorporationCountry', message: 'cannot be US for a non-US incorporation' });
  }
  if (input.taxForm !== undefined && input.taxForm !== form) {
    problems.push({ field: 'taxForm', message: `must be ${form} for a ${incorporation === 'US' ? 'US' : 'non-US'} incorporation` });
  }
  let taxId: string | undefined;
  let vatId: string | undefined;
  const blank = (value: string | null | undefined) => typeof value === 'string' && !value.trim();
  if (blank(input.taxId)) problems.push({ field: 'taxId', message: 'must not be blank' });
  if (blank(input.vatId)) problems.push({ field: 'vatId', message: 'must not be blank' });
  if (incorporation === 'US') {
    if (input.taxId == null) {
      problems.push({ field: 'taxId', message: 'is required for a US incorporation (TIN: EIN, SSN or ITIN, 9 digits)' });
    } else if (!blank(input.taxId)) {
      taxId = typedTaxId(input.taxId);
      if (!/^\d{9}$/.test(taxId) || !usTinIssuable(taxId)) {
        problems.push({ field: 'taxId', message: 'must be a US TIN of 9 digits (e.g. 12-3456789) that can be issued: an EIN, SSN or ITIN' });
      }
    }
    if (input.vatId != null && !blank(input.vatId)) problems.push({ field: 'vatId', message: 'is only used for non-US incorporations' });
  } else {
    if (input.taxId?.trim()) {
      taxId = typedTaxId(input.taxId);
      if (!/^[A-Z0-9]{4,30}$/.test(taxId)) problems.push({ field: 'taxId', message: 'must be a foreign TIN of 4 to 30 letters or digits' });
    }
    if (input.vatId?.trim()) {
      vatId = typedTaxId(input.vatId);
      const layout = vatLayoutProblem(vatId, country);
      if (!/^[A-Z0-9]{4,20}$/.test(vatId)) problems.push({ field: 'vatId', message: 'must be a VAT/GST id of 4 to 20 letters or digits' });
      else if (layout && input.vatIdChecked !== false) problems.push({ field: 'vatId', message: layout });
    }
  }
  if (problems.length) return { problems };
  return { problems, details: { incorporation, incorporationCountry: country, taxForm: form, taxId, vatId } };
}

/** The texts of a tax profile checked for its ids (those left out are not). */
export interface TaxTexts {
  legalName?: string;
  doingBusinessAs?: string;
  contactEmail?: string;
  address?: { line1?: string; line2?: string };
}

/**
 * The texts of a tax profile shown in clear to every reader of the location (Incentives users included) and sent in
 * its events (the legal name): none may hold its tax id or VAT id (a W-9 named after the EIN, the EIN in the
 * trade name), which are shown masked only and never in events (SPEC 1 Payout 5). 400 naming each field. An id the
 * request does not send (StoredSecret) is looked for by the last four the API shows of it only.
 */
export function taxIdInTextProblems(
  details: { taxId?: string | StoredSecret; vatId?: string | StoredSecret },
  businessProfile: TaxTexts,
  documents: Array<Pick<TaxDocument, 'fileName'>>,
): FieldProblem[] {
  return secretsInTextProblems(
    [details.taxId, details.vatId],
    [
      ['businessProfile.legalName', businessProfile.legalName],
      ['businessProfile.doingBusinessAs', businessProfile.doingBusinessAs],
      ['businessProfile.contactEmail', businessProfile.contactEmail],
      ['businessProfile.address.line1', businessProfile.address?.line1],
      ['businessProfile.address.line2', businessProfile.address?.line2],
      ...documents.map((document, i): [string, string] => [`documents.${i}.fileName`, document.fileName]),
    ],
    'must not contain the tax id or VAT id (it is shown and sent in clear)',
  );
}

/** A tax form is valid through the day before `expiresAt`; at `expiresAt` it has expired. */
export function isExpired(expiresAt: Date, now: Date): boolean {
  return expiresAt.getTime() <= now.getTime();
}

/** Whole days left until expiry, rounded up (0 or less once expired). */
export function daysLeft(expiresAt: Date, now: Date): number {
  return Math.ceil((expiresAt.getTime() - now.getTime()) / 86_400_000);
}

/** The latest time zone (Kiribati, UTC+14): a form may be signed on a day UTC has not reached yet. */
const LATEST_ZONE_MS = 14 * 3_600_000;

/**
 * What is wrong with a tax form's expiry given at `now`: passed already; or, for a W-8BEN-E, later than it can be valid:
 * through the end of the third calendar year after the year it is signed (at the latest, this one), December 31 of now's
 * year plus 3 (a date far on would keep its expiry reminder, and the enrollments' TAX_PROFILE_EXPIRED, from ever coming).
 * This year is the one it is somewhere on Earth (UTC+14): a form signed on January 1 where the year has begun, while
 * UTC is still on December 31, is valid a year longer than UTC's year would have it. `expiresAt` is when it has expired
 * (isExpired): a form valid through December 31 expires on January 1, which is taken as a date, or as a date-time
 * before January 2, UTC (a day's slack for a time zone ahead of UTC).
 */
export function expiryProblems(expiresAt: string, now: Date, form?: TaxForm): FieldProblem[] {
  const at = new Date(expiresAt);
  if (isExpired(at, now)) return [{ field: 'expiresAt', message: 'the tax form has expired: expiresAt must be a date in the future' }];
  const lastYear = new Date(now.getTime() + LATEST_ZONE_MS).getUTCFullYear() + 3;
  if (form === 'W-8BEN-E' && at.getTime() >= Date.UTC(lastYear + 1, 0, 2)) {
    return [
      {
        field: 'expiresAt',
        message: `a W-8BEN-E is valid until the end of the third calendar year after it is signed: expiresAt (when it has expired) must be on or before ${lastYear + 1}-01-01`,
      },
    ];
  }
  return [];
}

export function toDocuments(documents: TaxDocumentDto[]): TaxDocument[] {
  return documents.map((d) => ({ fileName: d.fileName, contentType: d.contentType, sizeBytes: d.sizeBytes, uploadedAt: new Date(d.uploadedAt) }));
}

/** The sealed and masked forms of the tax ids, as stored. */
export function sealTaxIds(secrets: SecretBox, profileId: string, details: CheckedTaxDetails) {
  return {
    ...(details.taxId && { sealedTaxId: secrets.seal(details.taxId, `${profileId}:taxId`), maskedTaxId: maskSecret(details.taxId) }),
    ...(details.vatId && { sealedVatId: secrets.seal(details.vatId, `${profileId}:vatId`), maskedVatId: maskSecret(details.vatId) }),
  };
}

/** EIN prefixes the IRS assigns none under. */
const UNASSIGNED_EIN_PREFIXES = new Set(['00', '07', '08', '09', '17', '18', '19', '28', '29', '49', '69', '70', '78', '79', '89', '96', '97']);

/**
 * Whether 9 digits can be a US TIN the IRS or the SSA issues: an EIN (a prefix the IRS assigns), an SSN (area not 000,
 * 666 or 9xx, group not 00, serial not 0000), or an ITIN (9xx with a group from 50-65, 70-88, 90-92 or 94-99). The
 * digits alone do not say which (a W-9 may carry either), so one of the three is enough.
 */
export function usTinIssuable(digits: string): boolean {
  const area = Number(digits.slice(0, 3));
  const group = Number(digits.slice(3, 5));
  const serial = Number(digits.slice(5));
  const ssn = area !== 0 && area !== 666 && area < 900 && group !== 0 && serial !== 0;
  const itin = area >= 900 && ((group >= 50 && group <= 65) || (group >= 70 && group <= 88) || (group >= 90 && group <= 92) || group >= 94);
  const ein = !UNASSIGNED_EIN_PREFIXES.has(digits.slice(0, 2));
  return ssn || itin || ein;
}
