import { ClockModule } from '@lib/platform';
import { Module } from '@nestjs/common';
import { InvitationsModule } from '../invitations/invitations.module';
import { OverviewController } from './overview.controller';
import { GetOverview } from './usecases/get-overview.use-case';

@Module({
  imports: [ClockModule, InvitationsModule],
  controllers: [OverviewController],
  providers: [GetOverview],
})
export class OverviewModule {}
