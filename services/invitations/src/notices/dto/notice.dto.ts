import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class NoticeDto {
  @ApiProperty({ description: 'The invitation this notice is about; select it with POST /v1/notices/{invitationId}/select' })
  invitationId!: string;
  @ApiProperty({ example: 'Partner Incentive Enrollment Invitation' }) title!: string;
  @ApiProperty({
    example: 'Contoso Inc (1234567) is invited to enroll in Azure Partner Incentives (FY27). Select Get Started to enroll.',
    description:
      'Where the enrollment is now, as another admin may have gone on with it: "... was invited to enroll in ... (FY27) and is now enrolled.", ' +
      '"... Its enrollment is submitted and being validated.", "... Its enrollment needs action: select Get Started to see what is missing." or "... Its enrollment is started: select Get Started to submit it."',
  })
  message!: string;
  @ApiProperty() programId!: string;
  @ApiPropertyOptional() programName?: string;
  @ApiProperty({ description: 'The location PartnerID' }) locationId!: string;
  @ApiProperty({ example: 'FY27' }) fiscalYear!: string;
  @ApiProperty({ description: 'When the invitation reached this user' }) deliveredAt!: string;
}

export class NoticeListDto {
  @ApiProperty({ type: [NoticeDto] }) items!: NoticeDto[];
  @ApiPropertyOptional({ description: 'Cursor of the next page: pass it as `cursor`; absent on the last page' }) nextCursor?: string;
}

export class SelectedNoticeDto {
  @ApiProperty() invitationId!: string;
  @ApiProperty() programId!: string;
  @ApiPropertyOptional() programName?: string;
  @ApiProperty() locationId!: string;
  @ApiProperty({ example: 'FY27' }) fiscalYear!: string;
  @ApiProperty({
    description: 'The Get Started link: the enrollment of this program for this location',
    example: 'http://localhost:8080/incentives/enroll?programId=P&locationId=L&fiscalYear=FY27',
  })
  getStartedUrl!: string;
  @ApiProperty({ description: 'When this user first selected the notice' }) selectedAt!: string;
}
