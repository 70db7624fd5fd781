import { Public } from '@lib/platform';
import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { JwksView } from './dto/jwks.dto';
import { SigningKeys } from './signing-keys';

@ApiTags('tokens')
@Controller()
export class JwksController {
  constructor(private readonly keys: SigningKeys) {}

  /** Every service (and identity itself) verifies access tokens with these keys. */
  @Public()
  @Get('.well-known/jwks.json')
  @Header('Cache-Control', 'public, max-age=300')
  @ApiOkResponse({ type: JwksView, description: 'The JSON Web Key Set of the issuer (RS256 public keys).' })
  jwks() {
    return this.keys.jwks();
  }
}
