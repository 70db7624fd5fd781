import { deterministicId } from '@lib/contracts';
import { Problems, ValidationProblem } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { RegisterPartnerInput, PartnerView } from '../dto/partner.dto';
import { Claims, LocationTakenError, PartnerExistsError, PartnersRepository } from '../partners.repository';
import { CompletePartnerBootstrap } from './complete-partner-bootstrap.use-case';
import { toPartnerView } from './get-partner.use-case';

/**
 * A platform operator registers a partner with its locations and its first Global admin. The input comes only
 * through the controller's validated RegisterPartnerInput: names are already trimmed (`@Text`) and the email has
 * no surrounding blanks (`@IsEmail` refuses them).
 */
@Injectable()
export class RegisterPartner {
  constructor(
    private readonly partners: PartnersRepository,
    private readonly completeBootstrap: CompletePartnerBootstrap,
  ) {}

  /**
   * Without `partnerId`, the id is derived from the request's Idempotency-Key when it has one: a retry of a registration
   * that failed after the partner was written (its claim released, the request runs again) finds that partner and
   * finishes it, instead of generating another id and meeting its own locations taken (409, stored for the key).
   */
  async execute(input: RegisterPartnerInput, idempotencyKey?: string): Promise<PartnerView> {
    const partnerId = input.partnerId ?? (idempotencyKey ? deterministicId('partner-registration', idempotencyKey) : randomUUID());
    const locations = input.locations.map((l) => ({ locationId: l.locationId, country: l.country.toUpperCase(), legalName: l.legalName }));
    const seen = new Map<string, number>();
    const repeated = locations.flatMap((l, i) => {
      const first = seen.get(l.locationId);
      seen.set(l.locationId, first ?? i);
      return first === undefined ? [] : [{ field: `locations.${i}.locationId`, message: `locationId ${l.locationId} is listed twice` }];
    });
    if (repeated.length) throw new ValidationProblem(repeated);

    const existing = await this.partners.find(partnerId);
    if (existing) {
      // A retry after a crash between the two writes finishes the registration; anything else is a conflict.
      if (existing.pendingAdmin && existing.pendingAdmin.email.toLowerCase() === input.globalAdmin.email.toLowerCase()) {
        await this.completeBootstrap.execute(existing);
        return { ...toPartnerView(existing), globalAdminUserId: existing.pendingAdmin.userId };
      }
      const detail = input.partnerId ? `Partner ${partnerId} is already registered.` : `Partner ${partnerId} was registered under this Idempotency-Key already.`;
      throw Problems.conflict(detail, { errors: [{ field: input.partnerId ? 'partnerId' : 'Idempotency-Key', message: 'is already registered' }] });
    }

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

    const pendingAdmin = { userId: randomUUID(), email: input.globalAdmin.email, displayName: input.globalAdmin.displayName };
    let partner;
    try {
      partner = await this.partners.register({ partnerId, name: input.name, locations, pendingAdmin });
    } catch (error) {
      // Whatever failed, give back the claims this call made and still holds (under a generated partnerId nobody
      // could ever use or retry into them). Those an identical request took over stay with it; anything left
      // behind (a crash right here, a failing database) is removed by the sweep after its grace period.
      await this.partners.release(claimed).catch(() => undefined);
      if (error instanceof PartnerExistsError) {
        throw Problems.conflict(error.message, { errors: [{ field: 'partnerId', message: 'is already registered' }] });
      }
      throw error;
    }
    await this.completeBootstrap.execute(partner);
    return { ...toPartnerView(partner), globalAdminUserId: pendingAdmin.userId };
  }
}
