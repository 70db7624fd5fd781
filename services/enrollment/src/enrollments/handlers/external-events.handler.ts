import {
  AdminAssignmentRequested,
  AgreementStatusChanged,
  DefaultBankProfileChange,
  EligibilityDetermined,
  InvitationIssued,
  InvitationRevoked,
  isProfileEvent,
  ProfileEvent,
  ProgramEvent,
  Topics,
} from '@lib/contracts';
import { ConsumedEvent, positionOf } from '@lib/messaging';
import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ViewsRepository } from '../../views/views.repository';
import { DiscontinueProgramEnrollments } from '../usecases/discontinue-program-enrollments.use-case';
import { EndIneligibleProgramEnrollments } from '../usecases/end-ineligible-program-enrollments.use-case';
import { RecordEligibilityDecision } from '../usecases/record-eligibility-decision.use-case';
import { RecordInvitation } from '../usecases/record-invitation.use-case';
import { RecordInvitationRevocation } from '../usecases/record-invitation-revocation.use-case';
import { RecordProfileChange } from '../usecases/record-profile-change.use-case';
import { RenameProgramEnrollments } from '../usecases/rename-program-enrollments.use-case';

/** What this service learns from other services and outside systems; each handler is idempotent. */
@Controller()
export class ExternalEventsHandler {
  constructor(
    private readonly views: ViewsRepository,
    private readonly recordEligibility: RecordEligibilityDecision,
    private readonly recordProfileChange: RecordProfileChange,
    private readonly recordInvitation: RecordInvitation,
    private readonly recordRevocation: RecordInvitationRevocation,
    private readonly discontinue: DiscontinueProgramEnrollments,
    private readonly endIneligible: EndIneligibleProgramEnrollments,
    private readonly rename: RenameProgramEnrollments,
  ) {}

  @EventPattern(Topics.eligibility)
  async onEligibility(@Payload() event: ConsumedEvent<EligibilityDetermined>): Promise<void> {
    if (event.envelope.type !== 'EligibilityDetermined') return;
    await this.recordEligibility.execute(event.envelope.data, new Date(event.envelope.occurredAt), event.envelope.eventId, positionOf(event));
  }

  @EventPattern(Topics.agreements)
  async onAgreement(@Payload() event: ConsumedEvent<AgreementStatusChanged>): Promise<void> {
    if (event.envelope.type !== 'AgreementStatusChanged') return;
    await this.views.recordAgreement(event.envelope.data, new Date(event.envelope.occurredAt), positionOf(event));
  }

  @EventPattern(Topics.payoutProfiles)
  async onPayoutProfile(@Payload() event: ConsumedEvent<unknown>): Promise<void> {
    const { type, data, occurredAt } = event.envelope;
    if (isProfileEvent(type)) {
      await this.recordProfileChange.execute(data as ProfileEvent, new Date(occurredAt), event.heartbeat);
    } else if (type === 'DefaultBankProfileAssigned') {
      await this.views.recordDefaultAssigned(data as DefaultBankProfileChange, new Date(occurredAt));
    } else if (type === 'DefaultBankProfileRemoved') {
      await this.views.recordDefaultRemoved(data as DefaultBankProfileChange, new Date(occurredAt));
    }
  }

  /** No order with the eligibility decisions (another topic): both use cases read the eligibility view. */
  @EventPattern(Topics.invitations)
  async onInvitation(@Payload() event: ConsumedEvent<unknown>): Promise<void> {
    const { type, data, occurredAt } = event.envelope;
    if (type === 'InvitationIssued' || type === 'InvitationDelivered') {
      await this.recordInvitation.execute(data as InvitationIssued);
    } else if (type === 'AdminAssignmentRequested') {
      await this.recordInvitation.waiting(data as AdminAssignmentRequested);
    } else if (type === 'InvitationRevoked') {
      await this.recordRevocation.execute(data as InvitationRevoked, new Date(occurredAt));
    }
  }

  /**
   * Our own catalog events (retried as any consumed event is: without limit through an outage, else up to KAFKA_MAX_ATTEMPTS, then dead-lettered for an operator to publish again): a renamed program's enrollments take its name; a discontinued program
   * ends its enrollments; the update that made an open program require eligibility ends its unfinished ones of
   * locations decided not eligible.
   */
  @EventPattern(Topics.programs)
  async onProgram(@Payload() event: ConsumedEvent<ProgramEvent>): Promise<void> {
    const { program } = event.envelope.data;
    if (event.envelope.type === 'ProgramUpdated') await this.rename.execute(program.programId, program.revision);
    if (program.state === 'DISCONTINUED') {
      await this.discontinue.execute(program.programId, program.name, event.heartbeat, new Date(event.envelope.occurredAt));
    } else if (event.envelope.type === 'ProgramUpdated' && program.requiresEligibility) {
      await this.endIneligible.execute(program.programId, program.revision, event.heartbeat);
    }
  }
}
