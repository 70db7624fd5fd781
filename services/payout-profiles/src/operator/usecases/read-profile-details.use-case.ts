import { ProfileKind } from '@lib/contracts';
import { Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { bankProfileView } from '../../bank-profiles/bank-profile.view';
import { BankProfilesRepository } from '../../bank-profiles/bank-profiles.repository';
import { SecretBox } from '../../secrets/secret-box';
import { taxProfileView } from '../../tax-profiles/tax-profile.view';
import { TaxProfilesRepository } from '../../tax-profiles/tax-profiles.repository';

/** The back office's view: everything, secrets decrypted. Reachable with the operator credential or the back office's (X-Validator-Key). */
@Injectable()
export class ReadProfileDetails {
  constructor(
    private readonly bank: BankProfilesRepository,
    private readonly tax: TaxProfilesRepository,
    private readonly secrets: SecretBox,
  ) {}

  async kindOf(profileId: string): Promise<ProfileKind> {
    if (await this.bank.unscoped.exists({ _id: profileId })) return 'BANK';
    if (await this.tax.unscoped.exists({ _id: profileId })) return 'TAX';
    throw Problems.notFound(`Profile ${profileId}`);
  }

  async execute(profileId: string) {
    const bank = await this.bank.findAnyPartner(profileId);
    if (bank) {
      const view = bankProfileView(bank, { history: true });
      const secret = this.secrets.open(bank.sealedAccount, `${bank._id}:account`);
      return { ...view, account: { ...view.account, [bank.secretField]: secret } };
    }
    const tax = await this.tax.findAnyPartner(profileId);
    if (tax) {
      return {
        ...taxProfileView(tax, { history: true }),
        taxId: tax.sealedTaxId ? this.secrets.open(tax.sealedTaxId, `${tax._id}:taxId`) : null,
        vatId: tax.sealedVatId ? this.secrets.open(tax.sealedVatId, `${tax._id}:vatId`) : null,
      };
    }
    throw Problems.notFound(`Profile ${profileId}`);
  }
}
