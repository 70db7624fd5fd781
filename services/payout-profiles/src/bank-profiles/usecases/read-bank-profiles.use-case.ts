import { DEFAULT_PAGE_SIZE, Page, PageQuery, Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { PayoutAccess } from '../../profiles/payout-access';
import { canReadBankProfile, readableBankProfilesFilter, servedLocations, shownTo } from '../../profiles/permissions';
import { BankProfile } from '../bank-profile.schema';
import { BANK_PROFILE_ORDER, BankProfilesRepository } from '../bank-profiles.repository';

/**
 * Bank profiles of the caller's partner (masked views): company admins read all of them; Incentives admins and users
 * those serving at least one location they hold a role on (canReadBankProfile). Another partner's profile is 404; one
 * of the partner serving none of the caller's locations is left out of the list, and 403 when asked for by id. Each
 * profile's `locationIds` are those the caller is shown (shownLocations).
 */
@Injectable()
export class ReadBankProfiles {
  constructor(
    private readonly access: PayoutAccess,
    private readonly profiles: BankProfilesRepository,
  ) {}

  async one(principal: Principal, profileId: string): Promise<BankProfile> {
    const actor = await this.access.bankReader(principal);
    const profile = await this.profiles.findShown(actor.partnerId, profileId);
    if (!profile) throw Problems.notFound(`Bank profile ${profileId}`);
    this.access.bankProfileReader(actor, profileId, servedLocations(profile));
    return shownTo(actor, profile);
  }

  /**
   * A page of the partner's profiles in BANK_PROFILE_ORDER that the caller may read: the query reads only those
   * (readableBankProfilesFilter), and each is checked again with canReadBankProfile, the rule itself (readPage reads on
   * past any the two disagree on, so a page is only short when it is the last).
   */
  async list(principal: Principal, { limit = DEFAULT_PAGE_SIZE, cursor }: PageQuery): Promise<Page<BankProfile>> {
    const actor = await this.access.bankReader(principal);
    const readable = readableBankProfilesFilter(actor);
    const page = await BANK_PROFILE_ORDER.readPage(
      cursor,
      limit,
      (position, count) => this.profiles.listForPartner(actor.partnerId, position, count, readable),
      (profile) => canReadBankProfile(actor, servedLocations(profile)),
    );
    return { ...page, items: page.items.map((profile) => shownTo(actor, profile)) };
  }
}
