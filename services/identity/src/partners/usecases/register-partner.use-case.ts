import { deterministicId, sameText } from '@lib/contracts';
import { Trace } from '@lib/messaging';
import { idempotencyKeyReused, IdempotentRequest, ownCreation, Problems, ValidationProblem } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { emailKey } from '../../users/email-key';
import { RegisterPartnerInput, PartnerView } from '../dto/partner.dto';
import { Location, Partner, PendingAdmin } from '../partner.schema';
import { Claims, LocationTakenError, PartnerExistsError, PartnersRepository } from '../partners.repository';
import { CompletePartnerBootstrap } from './complete-partner-bootstrap.use-case';
import { toPartnerView } from './get-partner.use-case';

/**
 * Whether a request registers what the partner, its first admin still pending, stores: the same name, the same
 * locations in any order (country upper-cased, as stored), and the same admin (email case-insensitive).
 */
function sameRegistration(
  stored: Pick<Partner, 'name' | 'locations'>,
  pendingAdmin: PendingAdmin,
  wanted: { name: string; locations: Location[]; admin: { email: string; displayName: string } },
): boolean {
  const storedLocations = new Map(stored.locations.map((l) => [l.locationId, l]));
  return (
    sameText(stored.name, wanted.name) &&
    stored.locations.length === wanted.locations.length &&
    wanted.locations.every((l) => {
      const known = storedLocations.get(l.locationId);
      return known !== undefined && known.country === l.country && sameText(known.legalName, l.legalName);
    }) &&
    emailKey(pendingAdmin.email) === emailKey(wanted.admin.email) &&
    sameText(pendingAdmin.displayName, wanted.admin.displayName)
  );
}

/**
 * A platform operator registers a partner with its locations and its first Global admin. The input comes only
 * through the controller's validated RegisterPartnerInput: names are already trimmed (`@Text`) and the email has
 * no surrounding blanks (`@IsDeliverableEmail` refuses them).
 */
@Injectable()
export class RegisterPartner {
  constructor(
    private readonly partners: PartnersRepository,
    private readonly completeBootstrap: CompletePartnerBootstrap,
  ) {}

  /**
   * Without `partnerId`, the id derives from the request's Idempotency-Key when it has one. A retry of the same request
   * (its fingerprint kept on the partner) whose answer was lost, after the partner was written, gets the partner, its
   * first admin finished if still pending: also once the sweep or a restart finished it. Another request under the key
   * (its stored answer gone) gets 422, as the interceptor answers one while the answer is kept.
   */
  async execute(input: RegisterPartnerInput, idempotency?: IdempotentRequest): Promise<PartnerView> {
    const partnerId = input.partnerId ?? (idempotency ? deterministicId('partner-registration', idempotency.key) : randomUUID());
    const locations = input.locations.map((l) => ({ locationId: l.locationId, country: l.country.toUpperCase(), legalName: l.legalName }));
    const seen = new Map<string, number>();
    const repeated = locations.flatMap((l, i) => {
      const first = seen.get(l.locationId);
      seen.set(l.locationId, first ?? i);
      return first === undefined ? [] : [{ field: `locations.${i}.locationId`, message: `locationId ${l.locationId} is listed twice` }];
    });
    if (repeated.length) throw new ValidationProblem(repeated);

    const existing = await this.partners.find(partnerId);
    if (existing) return this.registered(existing, input, locations, idempotency);

    let claimed: Claims;
    try {
      claimed = await this.partners.claim(partnerId, locations.map((l) => l.locationId));
    } catch (error) {
      if (!(error instanceof LocationTakenError)) throw error;
      throw Problems.conflict(error.message, {
        errors: error.locationIds.map((id) => ({
          field: `locations.${locations.findIndex((l) => l.locationId === id)}.locationId`,
          message: `location ${id} is already registered`,
        })),
      });
    }

    const trace = Trace.current();
    const pendingAdmin = {
      userId: randomUUID(),
      email: input.globalAdmin.email,
      displayName: input.globalAdmin.displayName,
      ...(trace && { trace }),
    };
    let partner;
    try {
      await this.partners.hold(claimed);
      partner = await this.partners.register({ partnerId, name: input.name, locations, pendingAdmin, ...(idempotency && { createdByRequest: idempotency.fingerprint }) });
    } catch (error) {
      // Whatever failed, give back the claims this call made and still holds (under a generated partnerId nobody
      // could ever use or retry into them). Those an identical request took over stay with it; anything left
      // behind (a crash right here, a failing database) is removed by the sweep after its grace period.
      await this.partners.release(claimed).catch(() => undefined);
      // Written meanwhile: by an identical request running at the same time (answered as its retry would be, above),
      // or by another one (409).
      if (!(error instanceof PartnerExistsError)) throw error;
      const written = await this.partners.find(partnerId);
      if (written) return this.registered(written, input, locations, idempotency);
      throw Problems.conflict(error.message, { errors: [{ field: 'partnerId', message: 'is already registered' }] });
    }
    await this.completeBootstrap.execute(partner);
    return { ...toPartnerView(partner), globalAdminUserId: pendingAdmin.userId };
  }

  /** The answer to a request for a partner already written: its registration, if the request is its retry; else 409. */
  private async registered(existing: Partner, input: RegisterPartnerInput, locations: Location[], idempotency?: IdempotentRequest): Promise<PartnerView> {
    const partnerId = existing._id;
    const pending = existing.pendingAdmin;
    // The key's own partner (its id derives from the key): ownCreation (422 for another request's). With a partnerId
    // named, only the same request's fingerprint tells a retry.
    const sameRequest = input.partnerId
      ? idempotency !== undefined && existing.createdByRequest === idempotency.fingerprint
      : ownCreation(existing, idempotency) !== null;
    // A retry after a crash between the two writes (the same request, or the same registration: partner, locations
    // and admin as stored) finishes the registration; anything else is a conflict.
    if (sameRequest || (input.partnerId && pending && sameRegistration(existing, pending, { name: input.name, locations, admin: input.globalAdmin }))) {
      if (pending) await this.completeBootstrap.execute(existing);
      const globalAdminUserId = pending?.userId ?? existing.firstAdminUserId;
      return { ...toPartnerView(existing), ...(globalAdminUserId !== undefined && { globalAdminUserId }) };
    }
    if (!input.partnerId) throw idempotencyKeyReused();
    throw Problems.conflict(`Partner ${partnerId} is already registered.`, { errors: [{ field: 'partnerId', message: 'is already registered' }] });
  }
}
