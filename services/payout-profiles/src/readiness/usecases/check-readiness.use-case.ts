import { fiscalYearOf, fiscalYearOver, judgedAt, MissingPayoutItem, payoutRulesFor } from '@lib/contracts';
import { Clock, Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { BankProfilesRepository, JudgedBankProfile } from '../../bank-profiles/bank-profiles.repository';
import { DefaultBankProfile } from '../../default-bank-profiles/default-bank-profile.schema';
import { PayoutAccess } from '../../profiles/payout-access';
import { servedLocations, serves } from '../../profiles/permissions';
import { Program } from '../../programs/program.schema';
import { TaxProfilesRepository } from '../../tax-profiles/tax-profiles.repository';
import { missingPayoutItems } from '../readiness-rules';
import { ReadinessQueryDto } from '../dto/readiness-query.dto';

export interface Readiness {
  programId: string;
  locationId: string;
  ready: boolean;
  missing: MissingPayoutItem[];
  bankProfileId: string | null;
  taxProfileId: string | null;
}

/**
 * Whether a location meets a program's payout rules with the given (or its default) bank profile. A given profile must
 * be the partner's and serve the location (400 on `bankProfileId` otherwise, as Enroll answers), which also keeps the
 * answer to profiles the caller may read.
 */
@Injectable()
export class CheckReadiness {
  constructor(
    private readonly access: PayoutAccess,
    private readonly bankProfiles: BankProfilesRepository,
    private readonly taxProfiles: TaxProfilesRepository,
    @InjectModel(DefaultBankProfile.name) private readonly defaults: Model<DefaultBankProfile>,
    @InjectModel(Program.name) private readonly programs: Model<Program>,
    private readonly clock: Clock,
  ) {}

  async execute(principal: Principal, query: ReadinessQueryDto): Promise<Readiness> {
    const { actor } = await this.access.locationReader(principal, query.locationId);
    const { partnerId } = actor;
    let bank: JudgedBankProfile | null = null;
    if (query.bankProfileId) {
      bank = await this.bankProfiles.findJudged(partnerId, query.bankProfileId);
      if (!bank) throw Problems.field('bankProfileId', 'must be a bank profile of your partner');
      if (!serves(servedLocations(bank), query.locationId)) {
        throw Problems.field('bankProfileId', `must be a bank profile that serves location ${query.locationId}`);
      }
    } else {
      const current = await this.defaults.findOne({ _id: query.locationId, partnerId }).lean<DefaultBankProfile>();
      if (current?.bankProfileId) bank = await this.bankProfiles.findJudged(partnerId, current.bankProfileId);
    }
    const [program, tax] = await Promise.all([
      this.programs.findById(query.programId).lean<Program>(),
      this.taxProfiles.findForLocation(partnerId, query.locationId),
    ]);
    const now = this.clock.now();
    // The enrollment's year: as asked, or the program's; once that is over, the current one (the rollover continued the
    // enrollments into it before the program moved on, and they are judged in it, not at the program's year end).
    const fiscalYear = query.fiscalYear ?? (program && (fiscalYearOver(program.fiscalYear, now) ? fiscalYearOf(now) : program.fiscalYear));
    const missing = missingPayoutItems({
      // That year's rules: a year the program moved on from keeps the rules it had then (as the enrollments are judged).
      rules: program && fiscalYear ? payoutRulesFor(program, fiscalYear) : program?.payoutRules,
      bank: bank ?? undefined,
      tax: tax ? { status: tax.status, expiresAt: new Date(tax.expiresAt) } : undefined,
      // Within that year, as Enroll judges it: a profile lapsing before the year starts does not cover it.
      now: fiscalYear ? judgedAt(fiscalYear, now) : now,
    });
    return {
      programId: query.programId,
      locationId: query.locationId,
      ready: missing.length === 0,
      missing,
      bankProfileId: bank?._id ?? null,
      taxProfileId: tax?._id ?? null,
    };
  }
}
