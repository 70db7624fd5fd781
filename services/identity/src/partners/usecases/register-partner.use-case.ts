import { Problems, ValidationProblem } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { RegisterPartnerInput, PartnerView } from '../dto/partner.dto';
import { LocationTakenError, PartnerExistsError, PartnersRepository } from '../partners.repository';
import { CompletePartnerBootstrap } from './complete-partner-bootstrap.use-case';
import { toPartnerView } from './get-partner.use-case';

/** A platform operator registers a partner with its locations and its first Global admin. */
@Injectable()
export class RegisterPartner {
  constructor(
    private readonly partners: PartnersRepository,
    private readonly completeBootstrap: CompletePartnerBootstrap,
  ) {}

  async execute(input: RegisterPartnerInput): Promise<PartnerView> {
    const partnerId = input.partnerId ?? randomUUID();
    const locations = input.locations.map((l) => ({ locationId: l.locationId, country: l.country.toUpperCase(), legalName: l.legalName.trim() }));
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
      throw Problems.conflict(`Partner ${partnerId} is already registered.`, { errors: [{ field: 'partnerId', message: 'is already registered' }] });
    }

    let claimed: string[];
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

    const pendingAdmin = { userId: randomUUID(), email: input.globalAdmin.email.trim(), displayName: input.globalAdmin.displayName.trim() };
    let partner;
    try {
      partner = await this.partners.register({ partnerId, name: input.name.trim(), locations, pendingAdmin });
    } catch (error) {
      // Whatever failed, the claims of this call must not outlive it: under a generated partnerId nobody could
      // ever use (or retry into) them, and the locations would answer 409 forever.
      await this.partners.release(partnerId, claimed);
      if (error instanceof PartnerExistsError) {
        throw Problems.conflict(error.message, { errors: [{ field: 'partnerId', message: 'is already registered' }] });
      }
      throw error;
    }
    await this.completeBootstrap.execute(partner);
    return { ...toPartnerView(partner), globalAdminUserId: pendingAdmin.userId };
  }
}
