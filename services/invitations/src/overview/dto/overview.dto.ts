import { EnrollmentStatuses } from '@lib/contracts';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { InvitationStates } from '../../invitations/invitation.schema';
import { OverviewActions } from '../overview-rules';

export class OverviewProgramDto {
  @ApiProperty() programId!: string;
  @ApiProperty() programName!: string;
  @ApiProperty({ example: 'FY27' }) fiscalYear!: string;
  @ApiProperty({ description: 'False for open programs (no invitation, no email)' }) requiresEligibility!: boolean;
  @ApiPropertyOptional() invitationId?: string;
  @ApiPropertyOptional({ enum: InvitationStates }) invitationState?: string;
  @ApiProperty({ enum: EnrollmentStatuses, nullable: true }) enrollmentStatus!: string | null;
  @ApiProperty({ description: 'Partner Center wording', example: 'Invited' }) status!: string;
  @ApiProperty({ enum: OverviewActions, isArray: true, description: 'ENROLL where the user is Incentives admin of the location' })
  actions!: string[];
  @ApiPropertyOptional({ description: 'Where Enroll leads, when offered' }) getStartedUrl?: string;
}

export class OverviewLocationDto {
  @ApiProperty({ description: 'The location PartnerID' }) locationId!: string;
  @ApiProperty() legalName!: string;
  @ApiProperty() country!: string;
  @ApiProperty({ type: [OverviewProgramDto] }) programs!: OverviewProgramDto[];
}

export class OverviewDto {
  @ApiProperty({ type: [OverviewLocationDto] }) locations!: OverviewLocationDto[];
}
