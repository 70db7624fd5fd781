import { Caller, CurrentCaller, Idempotent, IdempotencyOf, IdempotentRequest, OperatorOnly, OperatorOrUser } from '@lib/platform';
import { Body, Controller, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import { ApiConflictResponse, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { LocationInput, LocationView, PartnerView, RegisterPartnerInput } from './dto/partner.dto';
import { AddLocation } from './usecases/add-location.use-case';
import { GetPartner } from './usecases/get-partner.use-case';
import { RegisterPartner } from './usecases/register-partner.use-case';

@ApiTags('partners')
@Controller('v1/partners')
export class PartnersController {
  constructor(
    private readonly register: RegisterPartner,
    private readonly addLocation: AddLocation,
    private readonly getPartner: GetPartner,
  ) {}

  @OperatorOnly()
  @Idempotent()
  @Post()
  @ApiSecurity('operator')
  @ApiOperation({ summary: 'Register a partner with its locations and first Global admin (platform operator)' })
  @ApiCreatedResponse({ type: PartnerView })
  @ApiConflictResponse({ description: "The partnerId is registered already (not by a retry of this registration), or a location is another partner's; or busy: the locations' claims kept changing, retry (Retry-After)" })
  async create(
    @Body() input: RegisterPartnerInput,
    @IdempotencyOf() idempotency: IdempotentRequest | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<PartnerView> {
    const partner = await this.register.execute(input, idempotency);
    res.setHeader('Location', `/v1/partners/${encodeURIComponent(partner.partnerId)}`);
    return partner;
  }

  @OperatorOrUser()
  @Get(':partnerId')
  @ApiOperation({ summary: 'A partner and its locations (operator, or users of that partner)' })
  @ApiOkResponse({ type: PartnerView })
  read(@CurrentCaller() caller: Caller, @Param('partnerId') partnerId: string): Promise<PartnerView> {
    return this.getPartner.execute(caller, partnerId);
  }

  // The platform operator's alone: location ids are assigned outside the platform (the MPN location), so a partner's
  // own admin adding one could take the id of another partner's location not registered yet (and learn which ids are).
  @OperatorOnly()
  @Idempotent()
  @Post(':partnerId/locations')
  @HttpCode(201)
  @ApiSecurity('operator')
  @ApiOperation({ summary: 'Add a location to a partner (platform operator); locations are never removed' })
  @ApiCreatedResponse({ type: LocationView, description: 'Added (Location: the partner, where it is read).' })
  @ApiOkResponse({ type: LocationView, description: 'The same location was already there (also a retry): nothing changed.' })
  @ApiConflictResponse({ description: "The location is another partner's, or this partner's with another country or legal name; the partner has 5,000 locations; or busy: its claim kept changing, retry (Retry-After)" })
  async add(@Param('partnerId') partnerId: string, @Body() input: LocationInput, @Res({ passthrough: true }) res: Response): Promise<LocationView> {
    const { location, created } = await this.addLocation.execute(partnerId, input);
    res.status(created ? 201 : 200);
    // A location has no URL of its own: it is read with its partner.
    if (created) res.setHeader('Location', `/v1/partners/${encodeURIComponent(partnerId)}`);
    return location;
  }
}
