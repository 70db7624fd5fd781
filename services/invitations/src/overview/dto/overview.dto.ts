import { EnrollmentStatuses } from '@lib/contracts';
import { DEFAULT_PAGE_SIZE, PageLimit, PageQuery } from '@lib/platform';
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
  @ApiProperty({
    enum: OverviewActions,
    isArray: true,
    description: "Where the user is Incentives admin of the location: ENROLL (Get Started: Enroll, which goes on with one started), or CONTINUE for an Action required enrollment of a fiscal year the program is not in (a renewal made while the program is still in the year before), on the enrollment's own page",
  })
  actions!: string[];
  @ApiPropertyOptional({ description: 'Where Enroll leads, when offered' }) getStartedUrl?: string;
  @ApiPropertyOptional({ description: "Where Continue leads, when offered: the portal's page of the enrollment (`${PORTAL_BASE_URL}/incentives/enrollments/{enrollmentId}`)" })
  continueUrl?: string;
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

/** The most locations one overview page holds: each comes with every program and fiscal year it has history in. */
export const MAX_OVERVIEW_PAGE = 200;

/**
 * A page of locations (`limit` of them, default 100, at most MAX_OVERVIEW_PAGE: not the lists' 1,000, as each location
 * brings its invitations, enrollment statuses and decisions of every year, which one request would read for all).
 */
export class OverviewQuery extends PageQuery {
  @PageLimit({ max: MAX_OVERVIEW_PAGE, defaultSize: DEFAULT_PAGE_SIZE, description: 'Locations per page' })
  declare limit?: number;
}
