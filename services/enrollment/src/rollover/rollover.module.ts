import { ClockModule } from '@lib/platform';
import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { EnrollmentsModule } from '../enrollments/enrollments.module';
import { ProgramsModule } from '../programs/programs.module';
import { ViewsModule } from '../views/views.module';
import { RenewalContext } from './renewal-context';
import { RolloverLease, RolloverLeaseRecord, RolloverLeaseSchema } from './rollover-lease';
import { RolloverController } from './rollover.controller';
import { RolloverScheduler } from './rollover.scheduler';
import { ReviewEarlyRenewals } from './usecases/review-early-renewals.use-case';
import { RollOverFiscalYear } from './usecases/roll-over-fiscal-year.use-case';
import { SendRenewalReminders } from './usecases/send-renewal-reminders.use-case';

/** The fiscal-year rollover and renewal reminders: on a schedule and on operator request. */
@Module({
  imports: [ClockModule, EnrollmentsModule, ProgramsModule, ViewsModule, MongooseModule.forFeature([{ name: RolloverLeaseRecord.name, schema: RolloverLeaseSchema }])],
  controllers: [RolloverController],
  providers: [RenewalContext, RolloverLease, RollOverFiscalYear, ReviewEarlyRenewals, SendRenewalReminders, RolloverScheduler],
})
export class RolloverModule {}
