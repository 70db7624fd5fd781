import { PageQuery } from '@lib/platform';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length } from 'class-validator';
import { InvitationState, InvitationStates } from '../invitation.schema';

/** Filters, and the page (`limit`, `cursor`) of the list, in location, program and fiscal year order. */
export class ListInvitationsQuery extends PageQuery {
  @ApiPropertyOptional({ minLength: 1, maxLength: 64, description: 'Only this location (PartnerID)' })
  @IsOptional()
  @IsString()
  @Length(1, 64) // `?locationId=` is a 400, not the whole list
  locationId?: string;

  @ApiPropertyOptional({ enum: InvitationStates })
  @IsOptional()
  @IsIn(InvitationStates)
  state?: InvitationState;
}

export class InvitationRecipientDto {
  @ApiProperty() userId!: string;
  @ApiProperty() email!: string;
  @ApiProperty() displayName!: string;
  @ApiProperty() deliveredAt!: string;
  @ApiProperty({ description: 'Whether this recipient selected their home-page notice' }) noticeSelected!: boolean;
  @ApiPropertyOptional() selectedAt?: string;
}

export class InvitationDto {
  @ApiProperty({ description: 'Deterministic from (programId, locationId, fiscalYear)' }) invitationId!: string;
  @ApiProperty() programId!: string;
  @ApiPropertyOptional() programName?: string;
  @ApiProperty() partnerId!: string;
  @ApiProperty() locationId!: string;
  @ApiProperty({ example: 'FY27' }) fiscalYear!: string;
  @ApiProperty({ enum: InvitationStates }) state!: string;
  @ApiProperty({ type: [InvitationRecipientDto], description: "Who it went to: shown to company admins and the location's Incentives admins, empty for an Incentives user" }) recipients!: InvitationRecipientDto[];
  @ApiProperty() getStartedUrl!: string;
  @ApiProperty({ type: [String], description: 'Why it was revoked' }) reasons!: string[];
  @ApiPropertyOptional() issuedAt?: string;
  @ApiPropertyOptional() revokedAt?: string;
  @ApiProperty() version!: number;
}

export class InvitationListDto {
  @ApiProperty({ type: [InvitationDto] }) items!: InvitationDto[];
  @ApiPropertyOptional({ description: 'Cursor of the next page: pass it as `cursor`; absent on the last page' }) nextCursor?: string;
}
