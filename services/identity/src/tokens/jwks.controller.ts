import { Public } from '@lib/platform';
import { Controller, Get, Header, NotFoundException } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { JwksView } from './dto/jwks.dto';
import { SigningKeys } from './signing-keys';

@ApiTags('tokens')
@Controller()
export class JwksController {
  constructor(private readonly keys: SigningKeys) {}

  /** Every service (and identity itself) verifies access tokens with these keys, when identity is the issuer. */
  @Public()
  @Get('.well-known/jwks.json')
  @Header('Cache-Control', 'public, max-age=300')
  @ApiOkResponse({ type: JwksView, description: 'The JSON Web Key Set of the issuer (RS256 public keys).' })
  @ApiNotFoundResponse({ description: 'Identity is not the token issuer (TOKEN_ISSUER=external): the keys are those of the external issuer.' })
  jwks() {
    if (!this.keys.issuing) throw new NotFoundException('Identity is not the token issuer (TOKEN_ISSUER=external): use the JWKS of the external issuer.');
    return this.keys.jwks();
  }
}
