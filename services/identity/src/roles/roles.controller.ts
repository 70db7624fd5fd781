import { CurrentPrincipal, OptionalIfMatch, Principal } from '@lib/platform';
import { applyDecorators, Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiHeader, ApiOkResponse, ApiOperation, ApiPreconditionFailedResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { answerUser, UserView } from '../users/dto/user.dto';
import { RoleChangeInput, RoleHoldersQuery, RoleHoldersView } from './dto/role.dto';
import { AssignRole } from './usecases/assign-role.use-case';
import { ListIncentivesAdmins } from './usecases/list-incentives-admins.use-case';
import { RevokeRole } from './usecases/revoke-role.use-case';

/** A role change: 200 with the user; merged without If-Match, applied only to the revision read with it. */
const RoleChange = (summary: string, conflict: string) =>
  applyDecorators(
    HttpCode(200),
    ApiOperation({ summary }),
    ApiHeader({ name: 'If-Match', required: false, description: 'Optional: the user revision (ETag) read; 412 if it changed since' }),
    ApiPreconditionFailedResponse({ description: 'If-Match names an older revision of the user' }),
    ApiOkResponse({ type: UserView }),
    ApiConflictResponse({ description: `${conflict}; or busy: the user kept changing, retry (Retry-After)` }),
  );

const REVOKE_CONFLICT =
  "You cannot revoke your own Global admin role, nor the partner's last active Global admin's (also busy while another change of its Global admins is in progress)";

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
  @RoleChange('Assign a role on locations (merged; assigning what is held changes nothing)', 'The user is deactivated')
  async assign(
    @CurrentPrincipal() principal: Principal,
    @Param('userId') userId: string,
    @Body() input: RoleChangeInput,
    @OptionalIfMatch() expected: number | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    return answerUser(res, await this.assignRole.execute(principal, userId, input, expected));
  }

  @Delete('users/:userId/roles')
  @RoleChange('Revoke a role from locations (["*"] removes the role; some locations of a role held on "*" leave it on the others)', REVOKE_CONFLICT)
  async revoke(
    @CurrentPrincipal() principal: Principal,
    @Param('userId') userId: string,
    @Body() input: RoleChangeInput,
    @OptionalIfMatch() expected: number | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    return answerUser(res, await this.revokeRole.execute(principal, userId, input, expected));
  }

  @Post('users/:userId/roles/revoke')
  @RoleChange('Revoke a role (the same as DELETE .../roles, for clients that cannot send a DELETE body)', REVOKE_CONFLICT)
  async revokeByPost(
    @CurrentPrincipal() principal: Principal,
    @Param('userId') userId: string,
    @Body() input: RoleChangeInput,
    @OptionalIfMatch() expected: number | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    return this.revoke(principal, userId, input, expected, res);
  }

  @Get('locations/:locationId/incentives-admins')
  @ApiOperation({ summary: 'Who holds INCENTIVES_ADMIN on a location (company admins, or Incentives admins of it), by email, a page at a time' })
  @ApiOkResponse({ type: RoleHoldersView })
  incentivesAdmins(@CurrentPrincipal() principal: Principal, @Param('locationId') locationId: string, @Query() query: RoleHoldersQuery): Promise<RoleHoldersView> {
    return this.listAdmins.execute(principal, locationId, query);
  }
}
