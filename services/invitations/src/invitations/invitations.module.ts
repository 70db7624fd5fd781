import { ClockModule } from '@lib/platform';
import { AccessModule } from '@lib/access';
import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { CatchUpGate } from './catch-up/catch-up-gate';
import { FirstCatchUp } from './catch-up/first-catch-up';
import { HistoryFloors } from './catch-up/history-floors';
import { EligibilityHandler } from './handlers/eligibility.handler';
import { EnrollmentsHandler } from './handlers/enrollments.handler';
import { IdentityHandler } from './handlers/identity.handler';
import { ProgramsHandler } from './handlers/programs.handler';
import { InvitationLock } from './invitation-lock';
import { InvitationRepository } from './invitation.repository';
import { Invitation, InvitationSchema } from './invitation.schema';
import { InvitationsController } from './invitations.controller';
import { DeliverInvitation } from './usecases/deliver-invitation.use-case';
import { DeliverToLateAdmins } from './usecases/deliver-to-late-admins.use-case';
import { IssueInvitation } from './usecases/issue-invitation.use-case';
import { ListInvitations } from './usecases/list-invitations.use-case';
import { ReconcileInvitation } from './usecases/reconcile-invitation.use-case';
import { RecordEligibilityDecision } from './usecases/record-eligibility-decision.use-case';
import { RecordEnrollmentStatus } from './usecases/record-enrollment-status.use-case';
import { RecordProgram } from './usecases/record-program.use-case';
import { RevokeInvitation } from './usecases/revoke-invitation.use-case';
import { WaitWhenAdminsLeave } from './usecases/wait-when-admins-leave.use-case';
import { EligibilityDecisionView, EligibilityDecisionViewSchema } from './views/eligibility-decision.schema';
import { EnrollmentStatusView, EnrollmentStatusViewSchema } from './views/enrollment-status.schema';
import { ProgramView, ProgramViewSchema } from './views/program-view.schema';
import { ViewsRepository } from './views/views.repository';

/** Invitations, and the views they are derived from (eligibility decisions, programs, enrollment statuses). */
@Module({
  imports: [
    AccessModule,
    ClockModule,
    MongooseModule.forFeature([
      { name: Invitation.name, schema: InvitationSchema },
      { name: EligibilityDecisionView.name, schema: EligibilityDecisionViewSchema },
      { name: ProgramView.name, schema: ProgramViewSchema },
      { name: EnrollmentStatusView.name, schema: EnrollmentStatusViewSchema },
    ]),
  ],
  controllers: [InvitationsController, EligibilityHandler, ProgramsHandler, EnrollmentsHandler],
  providers: [
    CatchUpGate,
    FirstCatchUp,
    HistoryFloors,
    InvitationLock,
    InvitationRepository,
    ViewsRepository,
    ReconcileInvitation,
    IssueInvitation,
    DeliverInvitation,
    RevokeInvitation,
    RecordEligibilityDecision,
    RecordProgram,
    RecordEnrollmentStatus,
    IdentityHandler,
    DeliverToLateAdmins,
    WaitWhenAdminsLeave,
    ListInvitations,
  ],
  exports: [AccessModule, InvitationLock, InvitationRepository, ViewsRepository],
})
export class InvitationsModule {}
