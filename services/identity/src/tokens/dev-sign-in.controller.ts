import { Public } from '@lib/platform';
import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DevSignInInput, TokenView } from './dto/sign-in.dto';
import { DevSignIn } from './usecases/dev-sign-in.use-case';

@ApiTags('tokens')
@Controller('v1/dev')
export class DevSignInController {
  constructor(private readonly signIn: DevSignIn) {}

  @Public()
  @Post('sign-in')
  @HttpCode(200)
  @ApiOperation({ summary: 'Development sign-in by email (only when DEV_SIGN_IN_ENABLED=true)' })
  @ApiOkResponse({ type: TokenView })
  @ApiNotFoundResponse({ description: 'Development sign-in is disabled.' })
  execute(@Body() input: DevSignInInput): Promise<TokenView> {
    return this.signIn.execute(input);
  }
}
