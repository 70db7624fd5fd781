import { CurrentPrincipal, EmptyBody, Idempotent, IdempotencyOf, IdempotentRequest, IfMatch, NoBody, Principal } from '@lib/platform';
import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ImportReportView, ScimListResponseInput } from './dto/import.dto';
import { answerUser, CreateUserInput, ListUsersQuery, UserPage, UserView } from './dto/user.dto';
import { CreateUser } from './usecases/create-user.use-case';
import { DeactivateUser } from './usecases/deactivate-user.use-case';
import { GetUser } from './usecases/get-user.use-case';
import { ImportUsers } from './usecases/import-users.use-case';
import { ListUsers } from './usecases/list-users.use-case';
import { ReactivateUser } from './usecases/reactivate-user.use-case';

@ApiTags('users')
@ApiBearerAuth()
@Controller('v1')
export class UsersController {
  constructor(
    private readonly createUser: CreateUser,
    private readonly listUsers: ListUsers,
    private readonly getUser: GetUser,
    private readonly deactivateUser: DeactivateUser,
    private readonly importUsers: ImportUsers,
    private readonly reactivateUser: ReactivateUser,
  ) {}

  @Idempotent()
  @Post('users')
  @ApiOperation({ summary: 'Create a user of your partner (Global or Account admin)' })
  @ApiCreatedResponse({ type: UserView })
  @ApiConflictResponse({ description: 'A user of your partner already has this email' })
  async create(
    @CurrentPrincipal() principal: Principal,
    @Body() input: CreateUserInput,
    @IdempotencyOf() idempotency: IdempotentRequest | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<UserView> {
    const user = await this.createUser.execute(principal, input, idempotency);
    res.setHeader('Location', `/v1/users/${user._id}`);
    return answerUser(res, user);
  }

  @Get('users')
  @ApiOperation({ summary: "List your partner's users by email (Global or Account admin)" })
  @ApiOkResponse({ type: UserPage })
  list(@CurrentPrincipal() principal: Principal, @Query() query: ListUsersQuery): Promise<UserPage> {
    return this.listUsers.execute(principal, query);
  }

  @Idempotent()
  @Post('users/import')
  @HttpCode(200)
  @ApiOperation({ summary: 'Import users from a SCIM 2.0 ListResponse (Global admin); idempotent by externalId' })
  @ApiOkResponse({ type: ImportReportView })
  @ApiConflictResponse({ description: "Busy: another change of the partner's Global admins was in progress as an entry deactivated one; the entries before it were applied, import again (Retry-After)" })
  import(@CurrentPrincipal() principal: Principal, @Body() input: ScimListResponseInput): Promise<ImportReportView> {
    return this.importUsers.execute(principal, input);
  }

  @Get('me')
  @ApiOperation({ summary: 'The signed-in user' })
  @ApiOkResponse({ type: UserView })
  async me(@CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response): Promise<UserView> {
    return answerUser(res, await this.getUser.me(principal));
  }

  @Get('users/:userId')
  @ApiOperation({ summary: 'A user of your partner (Global or Account admin, or yourself)' })
  @ApiOkResponse({ type: UserView })
  async read(@CurrentPrincipal() principal: Principal, @Param('userId') userId: string, @Res({ passthrough: true }) res: Response): Promise<UserView> {
    return answerUser(res, await this.getUser.execute(principal, userId));
  }

  @Post('users/:userId/deactivate')
  @HttpCode(200)
  @ApiHeader({ name: 'If-Match', required: true, description: 'The ETag (revision) of the user you read, e.g. "3".' })
  @ApiOperation({ summary: 'Deactivate a user (Global or Account admin; company admins only by a Global admin)' })
  @ApiOkResponse({ type: UserView })
  @ApiConflictResponse({ description: "You cannot deactivate yourself, nor the partner's last active Global admin; or busy: another change of its Global admins is in progress, retry (Retry-After)" })
  async deactivate(
    @CurrentPrincipal() principal: Principal,
    @Param('userId') userId: string,
    @IfMatch() ifMatch: number,
    @NoBody() _body: EmptyBody,
    @Res({ passthrough: true }) res: Response,
  ): Promise<UserView> {
    return answerUser(res, await this.deactivateUser.execute(principal, userId, ifMatch));
  }

  @Post('users/:userId/reactivate')
  @HttpCode(200)
  @ApiHeader({ name: 'If-Match', required: true, description: 'The ETag (revision) of the user you read, e.g. "4".' })
  @ApiOperation({ summary: 'Reactivate a deactivated user, with the roles it kept (Global or Account admin; company admins only by a Global admin)' })
  @ApiOkResponse({ type: UserView })
  async reactivate(
    @CurrentPrincipal() principal: Principal,
    @Param('userId') userId: string,
    @IfMatch() ifMatch: number,
    @NoBody() _body: EmptyBody,
    @Res({ passthrough: true }) res: Response,
  ): Promise<UserView> {
    return answerUser(res, await this.reactivateUser.execute(principal, userId, ifMatch));
  }
}
