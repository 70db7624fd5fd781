import { CurrentPrincipal, Idempotent, IdempotencyOf, IdempotentRequest, IfMatch, Principal, setETag } from '@lib/platform';
import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { CreateTaxProfileDto, TaxProfileDto, TaxProfileListDto, TaxProfileListQueryDto, UpdateTaxProfileDto } from './dto/tax-profile.dto';
import { taxProfileView } from './tax-profile.view';
import { CreateTaxProfile } from './usecases/create-tax-profile.use-case';
import { ReadTaxProfiles } from './usecases/read-tax-profiles.use-case';
import { UpdateTaxProfile } from './usecases/update-tax-profile.use-case';

@ApiTags('tax profiles')
@ApiBearerAuth()
@Controller('v1')
export class TaxProfilesController {
  constructor(
    private readonly create: CreateTaxProfile,
    private readonly update: UpdateTaxProfile,
    private readonly read: ReadTaxProfiles,
  ) {}

  @Post('locations/:locationId/tax-profile')
  @Idempotent()
  @HttpCode(201)
  @ApiOperation({ summary: "Create the location's tax profile (Incentives admin of the location)" })
  @ApiCreatedResponse({ type: TaxProfileDto })
  @ApiConflictResponse({ description: 'The location already has a tax profile: change it with PATCH' })
  async createProfile(
    @CurrentPrincipal() principal: Principal,
    @Param('locationId') locationId: string,
    @Body() body: CreateTaxProfileDto,
    @IdempotencyOf() idempotency: IdempotentRequest | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<TaxProfileDto> {
    const profile = await this.create.execute(principal, locationId, body, idempotency);
    setETag(res, profile.version);
    res.setHeader('Location', `/v1/locations/${locationId}/tax-profile`);
    return taxProfileView(profile);
  }

  @Get('locations/:locationId/tax-profile')
  @ApiOperation({ summary: "Read the location's tax profile (masked), with its validation history" })
  @ApiOkResponse({ type: TaxProfileDto })
  async get(@CurrentPrincipal() principal: Principal, @Param('locationId') locationId: string, @Res({ passthrough: true }) res: Response): Promise<TaxProfileDto> {
    const profile = await this.read.ofLocation(principal, locationId);
    setETag(res, profile.version);
    return taxProfileView(profile, { history: true });
  }

  @Patch('locations/:locationId/tax-profile')
  @ApiOperation({ summary: "Change the location's tax profile (If-Match); a change is a new revision, sent to validation; on an Action required profile, the same details sent again submit it again" })
  @ApiHeader({ name: 'If-Match', required: true })
  @ApiOkResponse({ type: TaxProfileDto })
  @ApiConflictResponse({ description: 'The stored taxId or vatId cannot be read (sealed with a key no longer in PAYOUT_ENCRYPTION_KEYS): send it again (`errors` names the field)' })
  async change(
    @CurrentPrincipal() principal: Principal,
    @Param('locationId') locationId: string,
    @IfMatch() version: number,
    @Body() body: UpdateTaxProfileDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<TaxProfileDto> {
    const profile = await this.update.execute(principal, locationId, version, body);
    setETag(res, profile.version);
    return taxProfileView(profile, { history: true });
  }

  @Get('tax-profiles')
  @ApiOperation({ summary: 'List the tax profiles of the locations you may see (masked), by location; a page at a time' })
  @ApiOkResponse({ type: TaxProfileListDto })
  async list(@CurrentPrincipal() principal: Principal, @Query() query: TaxProfileListQueryDto): Promise<TaxProfileListDto> {
    const page = await this.read.visible(principal, query);
    return { items: page.items.map((p) => taxProfileView(p)), nextCursor: page.nextCursor };
  }
}
