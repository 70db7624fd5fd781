import { AccessModule } from '@lib/access';
import { PlatformModule } from '@lib/platform';
import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { notificationConfigSpec } from './config';
import { NOTIFICATION_OWN_CONSUMERS } from './consumers';
import { DeliveryMetrics } from './delivery/delivery-metrics';
import { EmailBacklog } from './delivery/email-backlog';
import { DeliveryWorker } from './delivery/delivery-worker';
import { Mailer } from './delivery/mailer';
import { InvitationDigests } from './delivery/invitation-digests';
import { DeliverEmail } from './delivery/usecases/deliver-email.use-case';
import { ResendFailedEmails } from './delivery/usecases/resend-failed-emails.use-case';
import { InvitationProgressRepository } from './invitations/invitation-progress.repository';
import { InvitationProgress, InvitationProgressSchema } from './invitations/invitation-progress.schema';
import { ProgramView, ProgramViewSchema } from './invitations/program-view.schema';
import { ProgramsHandler } from './invitations/programs.handler';
import { RecordInvitationProgress } from './invitations/usecases/record-invitation-progress.use-case';
import { InboxController } from './inbox/inbox.controller';
import { InboxRepository } from './inbox/inbox.repository';
import { CountUnread } from './inbox/usecases/count-unread.use-case';
import { ListInbox } from './inbox/usecases/list-inbox.use-case';
import { MarkRead } from './inbox/usecases/mark-read.use-case';
import { DomainEventsHandler } from './messages/handlers/domain-events.handler';
import { Message, MessageSchema } from './messages/message.schema';
import { MessagePlanner } from './messages/message-planner';
import { PlannedEventRetention } from './messages/planned-event-retention';
import { PlannedEvent, PlannedEventSchema } from './messages/planned-event.schema';
import { CreateMessages } from './messages/usecases/create-messages.use-case';
import { HandOverMessages } from './messages/usecases/hand-over-messages.use-case';
import { RenderAgain } from './messages/usecases/render-again.use-case';
import { MessageWriter } from './messages/message-writer';
import { IdentityCatchUp } from './recipients/identity-catch-up';
import { OperatorController } from './operator/operator.controller';
import { ProfileProgressRepository } from './profiles/profile-progress.repository';
import { ProfileProgress, ProfileProgressSchema } from './profiles/profile-progress.schema';
import { RecipientDirectory } from './recipients/recipient-directory';
import { TemplateRenderer } from './rendering/template-renderer';

@Module({
  imports: [
    PlatformModule.forService({ name: 'notification', configSpec: notificationConfigSpec, ownConsumers: NOTIFICATION_OWN_CONSUMERS }),
    AccessModule,
    MongooseModule.forFeature([
      { name: Message.name, schema: MessageSchema },
      { name: InvitationProgress.name, schema: InvitationProgressSchema },
      { name: ProgramView.name, schema: ProgramViewSchema },
      { name: PlannedEvent.name, schema: PlannedEventSchema },
      { name: ProfileProgress.name, schema: ProfileProgressSchema },
    ]),
  ],
  controllers: [DomainEventsHandler, ProgramsHandler, InboxController, OperatorController],
  providers: [
    TemplateRenderer,
    RecipientDirectory,
    IdentityCatchUp,
    MessagePlanner,
    CreateMessages,
    MessageWriter,
    HandOverMessages,
    RenderAgain,
    PlannedEventRetention,
    InvitationProgressRepository,
    ProfileProgressRepository,
    RecordInvitationProgress,
    Mailer,
    DeliveryMetrics,
    EmailBacklog,
    DeliverEmail,
    InvitationDigests,
    DeliveryWorker,
    ResendFailedEmails,
    InboxRepository,
    ListInbox,
    CountUnread,
    MarkRead,
  ],
})
export class AppModule {}
