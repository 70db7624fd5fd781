import { Public } from '@lib/platform';
import { Controller, Get, NotFoundException, Res } from '@nestjs/common';
import type { Response } from 'express';
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
  @ApiOkResponse({ type: JwksView, description: 'The JSON Web Key Set of the issuer (RS256 public keys); cacheable for 5 minutes.' })
  @ApiNotFoundResponse({ description: 'Identity is not the token issuer (TOKEN_ISSUER=external): the keys are those of the external issuer.' })
  jwks(@Res({ passthrough: true }) res: Response) {
    if (!this.keys.issuing) throw new NotFoundException('Identity is not the token issuer (TOKEN_ISSUER=external): use the JWKS of the external issuer.');
    // On the keys only: a 404 stays uncached (no-store, as every error), so switching identity back to issuing shows at once.
    res.setHeader('Cache-Control', 'public, max-age=300');
    return this.keys.jwks();
  }
}
