import { PageCursor, PageLimit } from '@lib/platform';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { InboxEntry } from '../inbox.repository';

export const INBOX_PAGE_SIZE = 20;
export const MAX_INBOX_PAGE_SIZE = 100;

/** A page of the inbox: `limit` entries after `cursor` (the `nextCursor` of the page before), as the other lists. */
export class InboxQuery {
  @PageLimit({ max: MAX_INBOX_PAGE_SIZE, defaultSize: INBOX_PAGE_SIZE, description: 'Entries per page' })
  limit?: number;

  @PageCursor()
  cursor?: string;
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
  @ApiPropertyOptional({ description: 'Cursor of the next page: pass it as `cursor`; absent on the last page' }) nextCursor?: string;
  @ApiProperty({
    description:
      'Entries in the inbox the caller may see now (an entry about a location they no longer hold the role on is left out), counted up to NOTIFY_INBOX_COUNT_LIMIT (1,000): past it, that number, with `totalAtLeast`',
  })
  total!: number;
  @ApiPropertyOptional({ description: 'Present (true) when the inbox holds more than `total` entries: show it as "1,000+"' }) totalAtLeast?: true;
}

export class UnreadCountDto {
  @ApiProperty({ example: 3, description: 'Unread entries the caller may see now, counted up to NOTIFY_INBOX_COUNT_LIMIT (1,000): past it, that number, with `unreadAtLeast`' })
  unread!: number;
  @ApiPropertyOptional({ description: 'Present (true) when more entries are unread than `unread`: show it as "1,000+"' }) unreadAtLeast?: true;
}
