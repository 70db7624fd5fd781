import { CurrentPrincipal, Idempotent, IdempotencyOf, IdempotentRequest, IfMatch, Principal, setETag } from '@lib/platform';
import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { bankProfileView } from './bank-profile.view';
import { BankProfileDto, BankProfileListDto, BankProfileListQueryDto, CreateBankProfileDto, UpdateBankProfileDto } from './dto/bank-profile.dto';
import { CreateBankProfile } from './usecases/create-bank-profile.use-case';
import { ReadBankProfiles } from './usecases/read-bank-profiles.use-case';
import { UpdateBankProfile } from './usecases/update-bank-profile.use-case';

@ApiTags('bank profiles')
@ApiBearerAuth()
@Controller('v1/bank-profiles')
export class BankProfilesController {
  constructor(
    private readonly create: CreateBankProfile,
    private readonly update: UpdateBankProfile,
    private readonly read: ReadBankProfiles,
  ) {}

  @Post()
  @Idempotent()
  @HttpCode(201)
  @ApiOperation({ summary: 'Create a bank profile of your partner, serving locations you are Incentives admin of (locationIds; default: all of yours)' })
  @ApiCreatedResponse({ type: BankProfileDto })
  @ApiConflictResponse({ description: 'Another bank profile of your partner already has this name' })
  async createProfile(
    @CurrentPrincipal() principal: Principal,
    @Body() body: CreateBankProfileDto,
    @IdempotencyOf() idempotency: IdempotentRequest | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<BankProfileDto> {
    const profile = await this.create.execute(principal, body, idempotency);
    setETag(res, profile.version);
    res.setHeader('Location', `/v1/bank-profiles/${profile._id}`);
    return bankProfileView(profile);
  }

  @Get()
  @ApiOperation({
    summary: "List your partner's bank profiles that serve a location you hold a role on (company admins: all), masked, by name; a page at a time",
  })
  @ApiOkResponse({ type: BankProfileListDto })
  async list(@CurrentPrincipal() principal: Principal, @Query() query: BankProfileListQueryDto): Promise<BankProfileListDto> {
    const page = await this.read.list(principal, query);
    return { items: page.items.map((p) => bankProfileView(p)), nextCursor: page.nextCursor };
  }

  @Get(':profileId')
  @ApiOperation({ summary: 'Read a bank profile (masked), with its validation history' })
  @ApiOkResponse({ type: BankProfileDto })
  async get(@CurrentPrincipal() principal: Principal, @Param('profileId') profileId: string, @Res({ passthrough: true }) res: Response): Promise<BankProfileDto> {
    const profile = await this.read.one(principal, profileId);
    setETag(res, profile.version);
    return bankProfileView(profile, { history: true });
  }

  @Patch(':profileId')
  @ApiOperation({
    summary: 'Change a bank profile (If-Match; Incentives admin of every location it serves); a change of its details is a new revision, sent to validation; on an Action required profile, the same details sent again submit it again',
  })
  @ApiHeader({ name: 'If-Match', required: true, description: 'The ETag (version) you read' })
  @ApiOkResponse({ type: BankProfileDto })
  @ApiConflictResponse({
    description:
      "Another bank profile of your partner already has this name; the currency changes, or locationIds leave out a location, while the profile is that location's default bank profile; the stored account cannot be read (sealed with a key no longer in PAYOUT_ENCRYPTION_KEYS: send it again, `errors` names the field); or busy: its defaults kept changing, retry (Retry-After)",
  })
  async change(
    @CurrentPrincipal() principal: Principal,
    @Param('profileId') profileId: string,
    @IfMatch() version: number,
    @Body() body: UpdateBankProfileDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<BankProfileDto> {
    const profile = await this.update.execute(principal, profileId, version, body);
    setETag(res, profile.version);
    return bankProfileView(profile, { history: true });
  }
}
