import { AccessModule } from '@lib/access';
import { ClockModule, PlatformModule } from '@lib/platform';
import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { ScheduleModule } from '@nestjs/schedule';
import { BankProfile, BankProfileSchema } from './bank-profiles/bank-profile.schema';
import { BankProfilesController } from './bank-profiles/bank-profiles.controller';
import { BankProfilesRepository } from './bank-profiles/bank-profiles.repository';
import { CreateBankProfile } from './bank-profiles/usecases/create-bank-profile.use-case';
import { ReadBankProfiles } from './bank-profiles/usecases/read-bank-profiles.use-case';
import { UpdateBankProfile } from './bank-profiles/usecases/update-bank-profile.use-case';
import { payoutConfigSpec } from './config';
import { DefaultBankProfile, DefaultBankProfileSchema } from './default-bank-profiles/default-bank-profile.schema';
import { DefaultBankProfilesController } from './default-bank-profiles/default-bank-profiles.controller';
import { DefaultClaims } from './default-bank-profiles/default-claims';
import { AssignDefaultBankProfile } from './default-bank-profiles/usecases/assign-default-bank-profile.use-case';
import { ReadDefaultBankProfiles } from './default-bank-profiles/usecases/read-default-bank-profiles.use-case';
import { RemoveDefaultBankProfile } from './default-bank-profiles/usecases/remove-default-bank-profile.use-case';
import { OperatorController } from './operator/operator.controller';
import { ReadProfileDetails } from './operator/usecases/read-profile-details.use-case';
import { PayoutAccess } from './profiles/payout-access';
import { ProfileEvents } from './profiles/profile-events';
import { Program, ProgramSchema } from './programs/program.schema';
import { ProgramsHandler } from './programs/handlers/programs.handler';
import { ApplyProgramSnapshot } from './programs/usecases/apply-program-snapshot.use-case';
import { ReadinessController } from './readiness/readiness.controller';
import { CheckReadiness } from './readiness/usecases/check-readiness.use-case';
import { ResealSecrets } from './secrets/usecases/reseal-secrets.use-case';
import { SecretBox } from './secrets/secret-box';
import { TaxExpiryScheduler } from './tax-profiles/tax-expiry.scheduler';
import { TaxProfile, TaxProfileSchema } from './tax-profiles/tax-profile.schema';
import { TaxProfilesController } from './tax-profiles/tax-profiles.controller';
import { TaxProfilesRepository } from './tax-profiles/tax-profiles.repository';
import { CreateTaxProfile } from './tax-profiles/usecases/create-tax-profile.use-case';
import { ReadTaxProfiles } from './tax-profiles/usecases/read-tax-profiles.use-case';
import { ScanExpiringTaxProfiles } from './tax-profiles/usecases/scan-expiring-tax-profiles.use-case';
import { UpdateTaxProfile } from './tax-profiles/usecases/update-tax-profile.use-case';
import { ValidationResultsHandler } from './validation/handlers/validation-results.handler';
import { RecordValidationResult } from './validation/usecases/record-validation-result.use-case';
import { ValidationMetrics } from './validation/validation-metrics';

@Module({
  imports: [
    PlatformModule.forService({ name: 'payout-profiles', configSpec: payoutConfigSpec }),
    ScheduleModule.forRoot(),
    ClockModule,
    AccessModule,
    MongooseModule.forFeature([
      { name: BankProfile.name, schema: BankProfileSchema },
      { name: TaxProfile.name, schema: TaxProfileSchema },
      { name: DefaultBankProfile.name, schema: DefaultBankProfileSchema },
      { name: Program.name, schema: ProgramSchema },
    ]),
  ],
  controllers: [
    BankProfilesController,
    TaxProfilesController,
    DefaultBankProfilesController,
    ReadinessController,
    OperatorController,
    ValidationResultsHandler,
    ProgramsHandler,
  ],
  providers: [
    SecretBox,
    PayoutAccess,
    ProfileEvents,
    BankProfilesRepository,
    TaxProfilesRepository,
    CreateBankProfile,
    UpdateBankProfile,
    ReadBankProfiles,
    CreateTaxProfile,
    UpdateTaxProfile,
    ReadTaxProfiles,
    ScanExpiringTaxProfiles,
    TaxExpiryScheduler,
    DefaultClaims,
    AssignDefaultBankProfile,
    RemoveDefaultBankProfile,
    ReadDefaultBankProfiles,
    RecordValidationResult,
    ValidationMetrics,
    ResealSecrets,
    ReadProfileDetails,
    ApplyProgramSnapshot,
    CheckReadiness,
  ],
})
export class AppModule {}
