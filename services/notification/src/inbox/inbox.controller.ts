import { CurrentPrincipal, EmptyBody, NoBody, Principal } from '@lib/platform';
import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { InboxEntryDto, InboxPageDto, InboxQuery, UnreadCountDto } from './dto/inbox.dto';
import { CountUnread } from './usecases/count-unread.use-case';
import { ListInbox } from './usecases/list-inbox.use-case';
import { MarkRead } from './usecases/mark-read.use-case';

/** The signed-in user's in-app inbox, in the partner of their token. */
@ApiTags('inbox')
@ApiBearerAuth()
@Controller('v1/inbox')
export class InboxController {
  constructor(
    private readonly list: ListInbox,
    private readonly count: CountUnread,
    private readonly markRead: MarkRead,
  ) {}

  @Get()
  @ApiOperation({ summary: 'My inbox, newest first' })
  @ApiOkResponse({ type: InboxPageDto })
  async page(@CurrentPrincipal() principal: Principal, @Query() query: InboxQuery): Promise<InboxPageDto> {
    return this.list.execute(principal, query);
  }

  @Get('unread-count')
  @ApiOperation({ summary: 'How many of my inbox messages are unread' })
  @ApiOkResponse({ type: UnreadCountDto })
  async unread(@CurrentPrincipal() principal: Principal): Promise<UnreadCountDto> {
    return this.count.execute(principal);
  }

  @Post(':messageId/read')
  @HttpCode(200)
  @ApiOperation({ summary: 'Mark one of my inbox messages read (idempotent); another user’s message is 404' })
  @ApiOkResponse({ type: InboxEntryDto })
  async read(@CurrentPrincipal() principal: Principal, @Param('messageId') messageId: string, @NoBody() _body: EmptyBody): Promise<InboxEntryDto> {
    return this.markRead.execute(principal, messageId);
  }
}
