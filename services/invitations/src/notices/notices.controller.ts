import { CurrentPrincipal, EmptyBody, NoBody, PageQuery, Principal } from '@lib/platform';
import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { NoticeListDto, SelectedNoticeDto } from './dto/notice.dto';
import { ListNotices } from './usecases/list-notices.use-case';
import { SelectNotice } from './usecases/select-notice.use-case';

@ApiTags('notices')
@ApiBearerAuth()
@Controller('v1/notices')
export class NoticesController {
  constructor(
    private readonly listNotices: ListNotices,
    private readonly selectNotice: SelectNotice,
  ) {}

  @Get()
  @ApiOperation({ summary: "The signed-in user's home-page notices not selected yet, the newest first, a page at a time" })
  @ApiOkResponse({ type: NoticeListDto })
  async list(@CurrentPrincipal() principal: Principal, @Query() query: PageQuery): Promise<NoticeListDto> {
    return this.listNotices.execute(principal, query);
  }

  @Post(':invitationId/select')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Select a notice: answers the Get Started link; the notice is not listed to this user again',
  })
  @ApiOkResponse({ type: SelectedNoticeDto })
  @ApiNotFoundResponse({ description: 'Not a notice of the signed-in user (including any other partner\'s invitation)' })
  @ApiConflictResponse({ description: 'Busy: the invitation is changing right now, retry (Retry-After)' })
  async select(
    @CurrentPrincipal() principal: Principal,
    @Param('invitationId') invitationId: string,
    @NoBody() _body: EmptyBody,
  ): Promise<SelectedNoticeDto> {
    return this.selectNotice.execute(principal, invitationId);
  }
}
