import { EnrollmentStatus, EnrollmentStatuses, FISCAL_YEAR_PATTERN, ID_MESSAGE, ID_PATTERN, IsFiscalYear, MissingPayoutItems } from '@lib/contracts';
import { OptionalNotNull, PageQuery } from '@lib/platform';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length, Matches } from 'class-validator';
import { RolloverOutcomes } from '../enrollment.schema';

export class EnrollDto {
  @ApiProperty({ pattern: ID_PATTERN.source, example: 'azure-growth-fy27' })
  @IsString()
  @Matches(ID_PATTERN, { message: `programId ${ID_MESSAGE}` })
  programId!: string;

  @ApiProperty({ pattern: ID_PATTERN.source, description: 'The location (PartnerID) to enroll', example: '1234567' })
  @IsString()
  @Matches(ID_PATTERN, { message: `locationId ${ID_MESSAGE}` })
  locationId!: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: 100, description: "Another bank profile of the partner instead of the location's default (not null: 400)" })
  @OptionalNotNull()
  @IsString()
  @Length(1, 100)
  bankProfileId?: string;
}

export class RefreshDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 100, description: "Another bank profile of the partner instead of the location's default (not null: 400)" })
  @OptionalNotNull()
  @IsString()
  @Length(1, 100)
  bankProfileId?: string;
}

export class ListEnrollmentsQuery extends PageQuery {
  @ApiPropertyOptional({ minLength: 1, maxLength: 64 }) @IsOptional() @IsString() @Length(1, 64) locationId?: string;
  @ApiPropertyOptional({ minLength: 1, maxLength: 64 }) @IsOptional() @IsString() @Length(1, 64) programId?: string;
  @ApiPropertyOptional({ pattern: FISCAL_YEAR_PATTERN.source, example: 'FY27' })
  @IsOptional()
  @IsFiscalYear()
  fiscalYear?: string;
  @ApiPropertyOptional({ enum: EnrollmentStatuses }) @IsOptional() @IsIn(EnrollmentStatuses) status?: EnrollmentStatus;
}

export class ProposalDto {
  @ApiProperty({ nullable: true, type: String, description: "The location's default bank profile, or the one chosen" })
  bankProfileId!: string | null;
  @ApiProperty({ nullable: true, type: String, description: "The location's tax profile" })
  taxProfileId!: string | null;
}

export class CompleteAtDto {
  @ApiProperty({ enum: MissingPayoutItems }) item!: string;
  @ApiProperty({ enum: ['GET', 'POST', 'PUT', 'PATCH'] }) method!: string;
  @ApiProperty({ example: '/v1/bank-profiles', description: 'Path in the payout-profiles API' }) path!: string;
  @ApiProperty({ description: 'The same, absolute (PAYOUT_PROFILES_API_URL)' }) href!: string;
  @ApiProperty() description!: string;
}

export class RolloverDto {
  @ApiProperty({ example: 'FY28' }) toFiscalYear!: string;
  @ApiProperty({ enum: RolloverOutcomes }) outcome!: string;
  @ApiProperty({ type: String, format: 'date-time', description: 'When the rollover decided it' }) at!: string;
  @ApiPropertyOptional({
    description:
      "Decided by an operator's run before the year was over: the run once it is over decides it again (still eligible and the agreement active: the flag goes; otherwise this enrollment EXPIRED and its continuation INELIGIBLE)",
  })
  early?: boolean;
}

export class EnrollmentDto {
  @ApiProperty({ description: 'Deterministic from (programId, locationId, fiscalYear)' }) enrollmentId!: string;
  @ApiProperty() programId!: string;
  @ApiPropertyOptional() programName?: string;
  @ApiProperty() partnerId!: string;
  @ApiProperty() locationId!: string;
  @ApiProperty({ example: 'FY27' }) fiscalYear!: string;
  @ApiProperty({ enum: EnrollmentStatuses }) status!: EnrollmentStatus;
  @ApiProperty({ description: "Partner Center wording; viewers other than the location's Incentives admin see \"Enrolling\" while it is in progress", example: 'Action required' })
  statusLabel!: string;
  @ApiProperty({ nullable: true, enum: ['ENROLL', 'SUBMIT', 'CONTINUE'], description: "The admin's next action (null for other viewers, or nothing to do)" })
  nextAction!: string | null;
  @ApiProperty({ type: ProposalDto }) proposal!: ProposalDto;
  @ApiProperty({ type: [String], enum: MissingPayoutItems, description: "What keeps the proposal from meeting the program's payout rules" })
  missing!: string[];
  @ApiProperty({ type: [CompleteAtDto], description: 'Where each missing item is completed (payout-profiles API)' })
  completeAt!: CompleteAtDto[];
  @ApiProperty({ type: [String], description: 'Why the status is what it is' }) reasons!: string[];
  @ApiPropertyOptional() submittedAt?: string;
  @ApiPropertyOptional() enrolledAt?: string;
  @ApiPropertyOptional({ description: 'The previous fiscal year enrollment this one continues' }) renewedFrom?: string;
  @ApiPropertyOptional({ description: 'The next fiscal year enrollment this one continued into' }) rolledOverTo?: string;
  @ApiPropertyOptional({ type: RolloverDto, description: 'What the fiscal-year rollover did with this enrollment' }) rollover?: RolloverDto;
  @ApiProperty({ description: 'Also the ETag' }) version!: number;
  @ApiProperty() updatedAt!: string;
}

export class EnrollmentListDto {
  @ApiProperty({ type: [EnrollmentDto] }) items!: EnrollmentDto[];
  @ApiPropertyOptional({ description: 'Cursor of the next page: pass it as `cursor`; absent on the last page' }) nextCursor?: string;
}
