import { PlatformModule } from '@lib/platform';
import { Module } from '@nestjs/common';
import { invitationsConfigSpec } from './config';
import { InvitationsModule } from './invitations/invitations.module';
import { NoticesModule } from './notices/notices.module';
import { OverviewModule } from './overview/overview.module';

@Module({
  imports: [
    PlatformModule.forService({ name: 'invitations', configSpec: invitationsConfigSpec }),
    InvitationsModule,
    NoticesModule,
    OverviewModule,
  ],
})
export class AppModule {}
