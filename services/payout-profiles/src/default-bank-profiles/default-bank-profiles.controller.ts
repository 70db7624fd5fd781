import { CurrentPrincipal, EmptyBody, Idempotent, NoBody, OptionalIfMatch, Principal, setETag } from '@lib/platform';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { defaultBankProfileView } from './default-bank-profile.view';
import {
  AssignDefaultBankProfileDto,
  AssignDefaultToLocationsDto,
  AssignedDefaultBankProfileDto,
  DefaultAssignmentDto,
  DefaultBankProfileDto,
  DefaultBankProfileListDto,
  DefaultBankProfileListQueryDto,
} from './dto/default-bank-profile.dto';
import { AssignDefaultBankProfile } from './usecases/assign-default-bank-profile.use-case';
import { ReadDefaultBankProfiles } from './usecases/read-default-bank-profiles.use-case';
import { RemoveDefaultBankProfile } from './usecases/remove-default-bank-profile.use-case';

/** Why assigning a default may answer 409. */
const ASSIGN_CONFLICT =
  "`location-not-served`: the bank profile does not serve the location; the profile's currency changed meanwhile; or busy: the location's default kept changing, retry (Retry-After)";

@ApiTags('default bank profiles')
@ApiBearerAuth()
@Controller('v1')
export class DefaultBankProfilesController {
  constructor(
    private readonly assign: AssignDefaultBankProfile,
    private readonly remove: RemoveDefaultBankProfile,
    private readonly read: ReadDefaultBankProfiles,
  ) {}

  @Put('locations/:locationId/default-bank-profile')
  // It creates the default where there is none (201): its retry, under If-Match "0", would meet its own write (412).
  @Idempotent()
  @ApiOperation({ summary: "Set the location's default (bank profile, currency) (Incentives admin of the location)" })
  @ApiHeader({ name: 'If-Match', required: false, description: 'Optional; the version read (0 when none: never one, or removed)' })
  @ApiCreatedResponse({ type: AssignedDefaultBankProfileDto, description: 'The location had no default (never one, or removed): it has this one now' })
  @ApiOkResponse({ type: AssignedDefaultBankProfileDto, description: 'The location\'s default replaced, or already this one (`UNCHANGED`)' })
  @ApiConflictResponse({ description: ASSIGN_CONFLICT })
  async put(
    @CurrentPrincipal() principal: Principal,
    @Param('locationId') locationId: string,
    @OptionalIfMatch() expectedVersion: number | undefined,
    @Body() body: AssignDefaultBankProfileDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<AssignedDefaultBankProfileDto> {
    const [result] = await this.assign.execute(principal, { ...body, locationIds: [locationId], expectedVersion }, 'path');
    // A PUT that made the resource answers 201 (RFC 9110 9.3.4), where it is read.
    if (result.created) res.status(201).setHeader('Location', `/v1/locations/${encodeURIComponent(locationId)}/default-bank-profile`);
    setETag(res, result.current.version);
    return { ...defaultBankProfileView(result.current), outcome: result.outcome };
  }

  @Delete('locations/:locationId/default-bank-profile')
  @HttpCode(204)
  @ApiOperation({ summary: "Remove the location's default bank profile (Incentives admin of the location)" })
  @ApiHeader({ name: 'If-Match', required: false, description: 'Optional; the version read (0 when none: never one, or removed)' })
  @ApiNoContentResponse({ description: 'Removed (or there was none)' })
  @ApiConflictResponse({ description: "Busy: the location's default kept changing, retry (Retry-After)" })
  async delete(
    @CurrentPrincipal() principal: Principal,
    @Param('locationId') locationId: string,
    @OptionalIfMatch() expectedVersion: number | undefined,
    @NoBody() _body: EmptyBody,
  ): Promise<void> {
    await this.remove.execute(principal, locationId, expectedVersion);
  }

  @Get('locations/:locationId/default-bank-profile')
  @ApiOperation({ summary: "Read the location's default bank profile" })
  @ApiOkResponse({ type: DefaultBankProfileDto })
  async get(@CurrentPrincipal() principal: Principal, @Param('locationId') locationId: string, @Res({ passthrough: true }) res: Response): Promise<DefaultBankProfileDto> {
    const current = await this.read.ofLocation(principal, locationId);
    setETag(res, current.version);
    return defaultBankProfileView(current);
  }

  @Post('default-bank-profiles')
  @Idempotent()
  @HttpCode(200)
  @ApiOperation({ summary: 'Make (bank profile, currency) the default of a list of locations (Incentives admin of each)' })
  @ApiOkResponse({ type: DefaultAssignmentDto })
  @ApiConflictResponse({
    description: `${ASSIGN_CONFLICT}. Met after some locations were written (a retry of one of them), it names those, which stay assigned: \`assignedLocationIds\``,
  })
  async assignMany(@CurrentPrincipal() principal: Principal, @Body() body: AssignDefaultToLocationsDto): Promise<DefaultAssignmentDto> {
    const results = await this.assign.execute(principal, body, 'body');
    return {
      bankProfileId: body.bankProfileId,
      currency: body.currency,
      locations: results.map((r) => ({ locationId: r.current.locationId, outcome: r.outcome, version: r.current.version })),
    };
  }

  @Get('default-bank-profiles')
  @ApiOperation({ summary: 'The default bank profiles of the locations you may see, by location; a page at a time' })
  @ApiOkResponse({ type: DefaultBankProfileListDto })
  async list(@CurrentPrincipal() principal: Principal, @Query() query: DefaultBankProfileListQueryDto): Promise<DefaultBankProfileListDto> {
    const page = await this.read.visible(principal, query);
    return { items: page.items.map(defaultBankProfileView), nextCursor: page.nextCursor };
  }
}
