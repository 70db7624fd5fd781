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
import { DeliverEmailUseCase } from './delivery/usecases/deliver-email.use-case';
import { InvitationProgressRepository } from './invitations/invitation-progress.repository';
import { InvitationProgress, InvitationProgressSchema } from './invitations/invitation-progress.schema';
import { RecordInvitationProgressUseCase } from './invitations/usecases/record-invitation-progress.use-case';
import { InboxController } from './inbox/inbox.controller';
import { InboxRepository } from './inbox/inbox.repository';
import { CountUnreadUseCase } from './inbox/usecases/count-unread.use-case';
import { ListInboxUseCase } from './inbox/usecases/list-inbox.use-case';
import { MarkReadUseCase } from './inbox/usecases/mark-read.use-case';
import { DomainEventsController } from './messages/domain-events.controller';
import { Message, MessageSchema } from './messages/message.schema';
import { MessagePlanner } from './messages/message-planner';
import { CreateMessagesUseCase } from './messages/usecases/create-messages.use-case';
import { IdentityCatchUp } from './recipients/identity-catch-up';
import { RecipientDirectory } from './recipients/recipient-directory';
import { TemplateRenderer } from './rendering/template-renderer';

@Module({
  imports: [
    PlatformModule.forService({ name: 'notification', configSpec: notificationConfigSpec, ownConsumers: NOTIFICATION_OWN_CONSUMERS }),
    AccessModule,
    MongooseModule.forFeature([
      { name: Message.name, schema: MessageSchema },
      { name: InvitationProgress.name, schema: InvitationProgressSchema },
    ]),
  ],
  controllers: [DomainEventsController, InboxController],
  providers: [
    TemplateRenderer,
    RecipientDirectory,
    IdentityCatchUp,
    MessagePlanner,
    CreateMessagesUseCase,
    InvitationProgressRepository,
    RecordInvitationProgressUseCase,
    Mailer,
    DeliveryMetrics,
    EmailBacklog,
    DeliverEmailUseCase,
    DeliveryWorker,
    InboxRepository,
    ListInboxUseCase,
    CountUnreadUseCase,
    MarkReadUseCase,
  ],
})
export class AppModule {}
