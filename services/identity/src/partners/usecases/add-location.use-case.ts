import { sameText } from '@lib/contracts';
import { Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { LocationInput, LocationView } from '../dto/partner.dto';
import { Claims, LocationTakenError, PartnersRepository } from '../partners.repository';

/**
 * The most locations one partner may have: the partner is one document (its locations, and every role snapshot naming
 * them, must stay far under MongoDB's 16 MB and Kafka's 1 MB). A registration brings at most 500 at once.
 */
export const MAX_PARTNER_LOCATIONS = 5_000;

/**
 * Adds a location to a partner (the platform operator: PartnersController). The location id is claimed
 * platform-wide first; the partner document then gains the location and its LocationAdded event in one write.
 * Adding the same location again answers it unchanged (no event). `legalName` is trimmed by the DTO (`@Text`).
 * If the write fails, the claim is given back unless an identical request took it over (see PartnersRepository).
 */
@Injectable()
export class AddLocation {
  constructor(private readonly partners: PartnersRepository) {}

  async execute(partnerId: string, input: LocationInput): Promise<{ location: LocationView; created: boolean }> {
    const partner = await this.partners.find(partnerId);
    if (!partner) throw Problems.notFound(`Partner ${partnerId}`);
    const location = { locationId: input.locationId, country: input.country.toUpperCase(), legalName: input.legalName };

    const known = partner.locations.find((l) => l.locationId === location.locationId);
    if (known) return this.same(known, location);
    // Checked on the partner as read: requests adding at once may pass it together, a few over at most.
    if (partner.locations.length >= MAX_PARTNER_LOCATIONS) {
      throw Problems.conflict(`Partner ${partnerId} has ${partner.locations.length} locations, the most one partner may have.`, {
        errors: [{ field: 'locationId', message: `the partner already has ${MAX_PARTNER_LOCATIONS} locations, the most one partner may have` }],
      });
    }

    let claimed: Claims;
    try {
      claimed = await this.partners.claim(partnerId, [location.locationId]);
    } catch (error) {
      if (!(error instanceof LocationTakenError)) throw error;
      throw Problems.conflict(error.message, { errors: [{ field: 'locationId', message: `location ${location.locationId} is already registered` }] });
    }
    let added: boolean;
    try {
      await this.partners.hold(claimed);
      added = await this.partners.addLocation(partnerId, location);
    } catch (error) {
      await this.partners.release(claimed).catch(() => undefined);
      throw error;
    }
    if (added) return { location, created: true };
    // Added concurrently by an identical request.
    const now = (await this.partners.find(partnerId))!.locations.find((l) => l.locationId === location.locationId)!;
    return this.same(now, location);
  }

  private same(known: LocationView, wanted: LocationView) {
    if (known.country !== wanted.country || !sameText(known.legalName, wanted.legalName)) {
      throw Problems.conflict(`Location ${wanted.locationId} is already registered with other details; locations are never changed.`, {
        errors: [{ field: 'locationId', message: 'is already registered with another country or legal name' }],
      });
    }
    return { location: known, created: false };
  }
}
