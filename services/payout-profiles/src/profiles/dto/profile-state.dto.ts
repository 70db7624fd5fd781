import { ProfileStatus, ProfileStatuses } from '@lib/contracts';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ValidationRecordDto } from './validation-record.dto';

/** What the API shows of any profile's validation state (statusView, historyView), bank or tax. */
export class ProfileStateDto {
  @ApiProperty({ enum: ProfileStatuses }) status!: ProfileStatus;
  @ApiProperty({ example: 'Pending Microsoft validation', description: 'Partner Center wording of the status' }) statusLabel!: string;
  @ApiProperty({ type: [String], description: 'What to fix (ACTION_REQUIRED)' }) reasons!: string[];
  @ApiProperty({ example: 1, description: 'Bumped by every change of the details; each revision is validated on its own' }) revision!: number;
  @ApiProperty({ example: 1, description: 'Bumped by every write; also the ETag' }) version!: number;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt?: Date;
  @ApiProperty({ type: String, format: 'date-time' }) updatedAt?: Date;
  @ApiPropertyOptional({ type: [ValidationRecordDto], description: 'Only when one profile is read or changed' })
  validationHistory?: ValidationRecordDto[];
}
