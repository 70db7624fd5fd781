import { Module } from '@nestjs/common';
import { InvitationsModule } from '../invitations/invitations.module';
import { OverviewController } from './overview.controller';
import { GetOverview } from './usecases/get-overview.use-case';

@Module({
  imports: [InvitationsModule],
  controllers: [OverviewController],
  providers: [GetOverview],
})
export class OverviewModule {}
