import { EnrollmentStatuses } from '@lib/contracts';
import { PageQuery } from '@lib/platform';
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
  @ApiProperty({ type: [OverviewLocationDto], description: 'A page of locations, by PartnerID' }) locations!: OverviewLocationDto[];
  @ApiPropertyOptional({ description: 'Cursor of the next page of locations: pass it as `cursor`; absent on the last page' }) nextCursor?: string;
}

/** A page of locations (`limit` of them, default 100). */
export class OverviewQuery extends PageQuery {}
