import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { InboxEntry } from '../inbox.repository';

export const MAX_PAGE = 10_000;

export class InboxQuery {
  /** Bounded so that (page - 1) * pageSize stays a skip the database accepts (int64), far beyond any real inbox. */
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 1, description: 'Page number, from 1' })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(MAX_PAGE)
  page?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 20 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100)
  pageSize?: number;
}

export class InboxEntryDto {
  @ApiProperty({ description: 'The message id: `${eventId}:${userId}:INBOX`', example: '0b9c...:u-1:INBOX' }) id!: string;
  @ApiProperty({ example: 'invitation' }) template!: string;
  @ApiProperty({ example: 'Partner Incentive Enrollment Invitation' }) subject!: string;
  @ApiProperty({ description: 'The message as plain text' }) text!: string;
  @ApiPropertyOptional({ description: 'Where the message points (Get Started, the enrollment, a profile)' }) link?: string;
  @ApiPropertyOptional() locationId?: string;
  @ApiProperty({ description: 'The domain event that caused it', example: 'InvitationIssued' }) eventType!: string;
  @ApiProperty() read!: boolean;
  @ApiPropertyOptional({ type: String, format: 'date-time' }) readAt?: string;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt!: string;

  static from(entry: InboxEntry): InboxEntryDto {
    return {
      id: entry._id,
      template: entry.template,
      subject: entry.subject,
      text: entry.text,
      ...(entry.link !== undefined && { link: entry.link }),
      ...(entry.locationId !== undefined && { locationId: entry.locationId }),
      eventType: entry.causationEventType,
      read: entry.read === true,
      ...(entry.readAt && { readAt: new Date(entry.readAt).toISOString() }),
      createdAt: new Date(entry.createdAt).toISOString(),
    };
  }
}

export class InboxPageDto {
  @ApiProperty({ type: [InboxEntryDto], description: 'Newest first' }) items!: InboxEntryDto[];
  @ApiProperty() page!: number;
  @ApiProperty() pageSize!: number;
  @ApiProperty({ description: 'Entries in the inbox' }) total!: number;
}

export class UnreadCountDto {
  @ApiProperty({ example: 3 }) unread!: number;
}
