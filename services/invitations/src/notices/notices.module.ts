import { ClockModule } from '@lib/platform';
import { Module } from '@nestjs/common';
import { InvitationsModule } from '../invitations/invitations.module';
import { NoticesController } from './notices.controller';
import { ListNotices } from './usecases/list-notices.use-case';
import { SelectNotice } from './usecases/select-notice.use-case';

/** Home-page notices: one per recipient of an invitation, shown until that recipient selects it. */
@Module({
  imports: [ClockModule, InvitationsModule],
  controllers: [NoticesController],
  providers: [ListNotices, SelectNotice],
})
export class NoticesModule {}
