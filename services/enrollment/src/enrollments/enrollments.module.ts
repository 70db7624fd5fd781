import { ClockModule } from '@lib/platform';
import { AccessModule } from '@lib/access';
import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { ProgramsModule } from '../programs/programs.module';
import { ViewsModule } from '../views/views.module';
import { Enrollment, EnrollmentSchema } from './enrollment.schema';
import { EnrollmentEvents } from './enrollment-events';
import { EnrollmentsController } from './enrollments.controller';
import { EnrollmentsRepository } from './enrollments.repository';
import { ExternalEventsHandler } from './handlers/external-events.handler';
import { RenameProgramEnrollments } from './usecases/rename-program-enrollments.use-case';
import { ConsumerCatchUp } from '../common/consumer-catch-up';
import { FollowUpScheduler } from './follow-up.scheduler';
import { JobMark, JobMarkSchema } from './job-mark.schema';
import { PayoutFacts } from './payout-facts';
import { DiscontinueProgramEnrollments } from './usecases/discontinue-program-enrollments.use-case';
import { EndIneligibleProgramEnrollments } from './usecases/end-ineligible-program-enrollments.use-case';
import { EnrollLocation } from './usecases/enroll-location.use-case';
import { FollowExpiredTaxProfiles } from './usecases/follow-expired-tax-profiles.use-case';
import { FollowSubmitted } from './usecases/follow-submitted.use-case';
import { FollowValidation } from './usecases/follow-validation.use-case';
import { MarkIneligible } from './usecases/mark-ineligible.use-case';
import { ReadEnrollments } from './usecases/read-enrollments.use-case';
import { RecordEligibilityDecision } from './usecases/record-eligibility-decision.use-case';
import { RecordInvitation } from './usecases/record-invitation.use-case';
import { RecordInvitationRevocation } from './usecases/record-invitation-revocation.use-case';
import { RecordProfileChange } from './usecases/record-profile-change.use-case';
import { RecheckStart } from './usecases/recheck-start.use-case';
import { ReopenInvitation } from './usecases/reopen-invitation.use-case';
import { SubmitEnrollment } from './usecases/submit-enrollment.use-case';
import { WithdrawBankChoice } from './usecases/withdraw-bank-choice.use-case';

/** Enrollments: Enroll / Continue / Submit, validation following, and the reactions to other services' events. */
@Module({
  imports: [
    AccessModule,
    ClockModule,
    ProgramsModule,
    ViewsModule,
    MongooseModule.forFeature([
      { name: Enrollment.name, schema: EnrollmentSchema },
      { name: JobMark.name, schema: JobMarkSchema },
    ]),
  ],
  controllers: [EnrollmentsController, ExternalEventsHandler],
  providers: [
    EnrollmentsRepository,
    EnrollmentEvents,
    PayoutFacts,
    FollowValidation,
    EnrollLocation,
    SubmitEnrollment,
    ReadEnrollments,
    MarkIneligible,
    RecordEligibilityDecision,
    RecordProfileChange,
    RecordInvitation,
    RecordInvitationRevocation,
    DiscontinueProgramEnrollments,
    RenameProgramEnrollments,
    EndIneligibleProgramEnrollments,
    RecheckStart,
    ReopenInvitation,
    WithdrawBankChoice,
    FollowSubmitted,
    FollowExpiredTaxProfiles,
    FollowUpScheduler,
    ConsumerCatchUp,
  ],
  exports: [EnrollmentsRepository, EnrollmentEvents, DiscontinueProgramEnrollments, RenameProgramEnrollments, FollowValidation, EnrollLocation, MarkIneligible, WithdrawBankChoice, ConsumerCatchUp],
})
export class EnrollmentsModule {}
