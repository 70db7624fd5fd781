import { CurrentPrincipal, OptionalIfMatch, Principal, setETag } from '@lib/platform';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { toUserView, UserView } from '../users/dto/user.dto';
import { User } from '../users/user.schema';
import { RoleChangeInput, RoleHoldersView } from './dto/role.dto';
import { AssignRole } from './usecases/assign-role.use-case';
import { ListIncentivesAdmins } from './usecases/list-incentives-admins.use-case';
import { RevokeRole } from './usecases/revoke-role.use-case';

function answer(res: Response, user: User): UserView {
  setETag(res, user.revision);
  return toUserView(user);
}

@ApiTags('roles')
@ApiBearerAuth()
@Controller('v1')
export class RolesController {
  constructor(
    private readonly assignRole: AssignRole,
    private readonly revokeRole: RevokeRole,
    private readonly listAdmins: ListIncentivesAdmins,
  ) {}

  @Post('users/:userId/roles')
  @HttpCode(200)
  @ApiOperation({ summary: 'Assign a role on locations (merged; assigning what is held changes nothing). If-Match (optional): only if the user is still at that version (412 otherwise)' })
  @ApiOkResponse({ type: UserView })
  async assign(
    @CurrentPrincipal() principal: Principal,
    @Param('userId') userId: string,
    @Body() input: RoleChangeInput,
    @OptionalIfMatch() expected: number | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    return answer(res, await this.assignRole.execute(principal, userId, input, expected));
  }

  @Delete('users/:userId/roles')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke a role from locations (["*"] removes the role). If-Match (optional): only if the user is still at that version (412 otherwise)' })
  @ApiOkResponse({ type: UserView })
  async revoke(
    @CurrentPrincipal() principal: Principal,
    @Param('userId') userId: string,
    @Body() input: RoleChangeInput,
    @OptionalIfMatch() expected: number | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    return answer(res, await this.revokeRole.execute(principal, userId, input, expected));
  }

  @Post('users/:userId/roles/revoke')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke a role (the same as DELETE .../roles, for clients that cannot send a DELETE body)' })
  @ApiOkResponse({ type: UserView })
  async revokeByPost(
    @CurrentPrincipal() principal: Principal,
    @Param('userId') userId: string,
    @Body() input: RoleChangeInput,
    @OptionalIfMatch() expected: number | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    return answer(res, await this.revokeRole.execute(principal, userId, input, expected));
  }

  @Get('locations/:locationId/incentives-admins')
  @ApiOperation({ summary: 'Who holds INCENTIVES_ADMIN on a location (company admins, or Incentives admins of it)' })
  @ApiOkResponse({ type: RoleHoldersView })
  incentivesAdmins(@CurrentPrincipal() principal: Principal, @Param('locationId') locationId: string): Promise<RoleHoldersView> {
    return this.listAdmins.execute(principal, locationId);
  }
}
