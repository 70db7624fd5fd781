import { CONFIG, Public } from '@lib/platform';
import { Body, CanActivate, Controller, HttpCode, Inject, Injectable, NotFoundException, Post, UseGuards } from '@nestjs/common';
import { ApiForbiddenResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { DevSignInInput, TokenView } from './dto/sign-in.dto';
import type { IdentityConfig } from '../config';
import { DevSignIn } from './usecases/dev-sign-in.use-case';

/**
 * With development sign-in off the route answers 404 before its body is validated or used. The path stays routed (the
 * controller is registered whatever the setting): another method gets 405, and a body the parser refuses its 400/415,
 * as on every route.
 */
@Injectable()
export class DevSignInEnabled implements CanActivate {
  constructor(@Inject(CONFIG) private readonly config: IdentityConfig) {}

  canActivate(): boolean {
    if (!this.config.DEV_SIGN_IN_ENABLED) throw new NotFoundException('Cannot POST /v1/dev/sign-in');
    return true;
  }
}

@ApiTags('tokens')
@Controller('v1/dev')
export class DevSignInController {
  constructor(private readonly signIn: DevSignIn) {}

  @Public()
  @UseGuards(DevSignInEnabled)
  @Post('sign-in')
  @HttpCode(200)
  @ApiOperation({ summary: 'Development sign-in by email (only when DEV_SIGN_IN_ENABLED=true)' })
  @ApiOkResponse({ type: TokenView })
  @ApiNotFoundResponse({ description: 'Development sign-in is disabled.' })
  @ApiUnauthorizedResponse({ description: 'No user has this email (of that partner, when partnerId is sent).' })
  @ApiForbiddenResponse({ description: 'The account is deactivated.' })
  execute(@Body() input: DevSignInInput): Promise<TokenView> {
    return this.signIn.execute(input);
  }
}
