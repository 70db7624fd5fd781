import { Module } from '@nestjs/common';
import { ClockModule } from '../common/clock.module';
import { InvitationsModule } from '../invitations/invitations.module';
import { OverviewController } from './overview.controller';
import { GetOverview } from './usecases/get-overview.use-case';

@Module({
  imports: [ClockModule, InvitationsModule],
  controllers: [OverviewController],
  providers: [GetOverview],
})
export class OverviewModule {}
