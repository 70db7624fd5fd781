import { CurrentPrincipal, Principal } from '@lib/platform';
import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { InvitationDto, InvitationListDto, ListInvitationsQuery } from './dto/invitation.dto';
import { ListInvitations } from './usecases/list-invitations.use-case';

@ApiTags('invitations')
@ApiBearerAuth()
@Controller('v1/invitations')
export class InvitationsController {
  constructor(private readonly listInvitations: ListInvitations) {}

  @Get()
  @ApiOperation({ summary: 'Invitations of the locations the signed-in user may see (company admins: all), a page at a time' })
  @ApiOkResponse({ type: InvitationListDto })
  @ApiNotFoundResponse({ description: 'locationId names no location the caller may see: none, or another partner\'s' })
  async list(@CurrentPrincipal() principal: Principal, @Query() query: ListInvitationsQuery): Promise<InvitationListDto> {
    return this.listInvitations.list(principal, query);
  }

  @Get(':invitationId')
  @ApiOperation({ summary: 'One invitation, with its recipients and whether each selected their notice' })
  @ApiOkResponse({ type: InvitationDto })
  @ApiNotFoundResponse({ description: "Unknown, or another partner's invitation" })
  async get(@CurrentPrincipal() principal: Principal, @Param('invitationId') invitationId: string): Promise<InvitationDto> {
    return this.listInvitations.get(principal, invitationId);
  }
}
