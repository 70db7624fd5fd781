import { auditLog, AuthenticatedRequest, CONFIG, EmptyBody, NoBody, OperatorOnly } from '@lib/platform';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import { ApiConflictResponse, ApiExtraModels, ApiOkResponse, ApiOperation, ApiSecurity, ApiServiceUnavailableResponse, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { PayoutConfig, VALIDATOR_KEY } from '../config';
import { storedProfileId } from '../profiles/profile.parts';
import { ResealSecrets } from '../secrets/usecases/reseal-secrets.use-case';
import { ScanExpiringTaxProfiles } from '../tax-profiles/usecases/scan-expiring-tax-profiles.use-case';
import { RecordValidationDto } from '../validation/dto/record-validation.dto';
import { RecordValidationResult } from '../validation/usecases/record-validation-result.use-case';
import { ValidationResultCommand } from '../validation/usecases/validation-result.command';
import { BankProfileDetailsDto, ExpiryScanDto, RecordedValidationDto, ResealDto, ResealQueryDto, TaxProfileDetailsDto } from './dto/operator.dto';
import { ReadProfileDetails } from './usecases/read-profile-details.use-case';
import { publicReasons } from '../secrets/masking';

/** A run asked for as this instance stops (BackgroundWork). */
const SHUTTING_DOWN = '`shutting-down`: this instance is stopping; ask again (another instance takes it)';

/**
 * Platform operators (X-Operator-Key) and the payments back office: the two endpoints it needs (a profile's decrypted
 * details, a decision) also take its own credential (X-Validator-Key, VALIDATOR_TOKEN), so that it need not hold the
 * platform-wide operator token. Every read of decrypted details is logged with who read it.
 */
@ApiTags('operator')
@ApiSecurity('operator')
@OperatorOnly()
@Controller('v1/operator')
export class OperatorController {
  constructor(
    @Inject(CONFIG) private readonly config: PayoutConfig,
    private readonly details: ReadProfileDetails,
    private readonly record: RecordValidationResult,
    private readonly expiryScan: ScanExpiringTaxProfiles,
    private readonly resealSecrets: ResealSecrets,
  ) {}

  @Get('profiles/:profileId')
  @OperatorOnly({ alsoKey: VALIDATOR_KEY })
  @ApiOperation({
    summary: 'Full details of a profile, secrets decrypted, for validation (the detailsPath of requests)',
    description: 'A secret sealed with a key that is not configured answers 500 problem+json (type secret-key-unavailable) naming the key id.',
  })
  @ApiExtraModels(BankProfileDetailsDto, TaxProfileDetailsDto)
  @ApiOkResponse({
    description: 'A bank or a tax profile, told apart by profileKind',
    schema: {
      oneOf: [{ $ref: getSchemaPath(BankProfileDetailsDto) }, { $ref: getSchemaPath(TaxProfileDetailsDto) }],
      discriminator: {
        propertyName: 'profileKind',
        mapping: { BANK: getSchemaPath(BankProfileDetailsDto), TAX: getSchemaPath(TaxProfileDetailsDto) },
      },
    },
  })
  async get(@Param('profileId') sent: string, @Req() request: AuthenticatedRequest): Promise<BankProfileDetailsDto | TaxProfileDetailsDto> {
    // An id upper-cased by a back office (as its results may be): the profile it names, as the decision below finds it.
    const profileId = storedProfileId(sent);
    const details = await this.details.execute(profileId);
    // An audit line, kept whatever LOG_LEVEL says: who read which profile's secrets in clear.
    const by = request.operator === true ? 'operator' : String(request.operator);
    auditLog(this.config.SERVICE_NAME, `decrypted details of profile ${profileId} read by the ${by} credential`, {
      event: 'profile-details-read',
      profileId,
      profileKind: details.profileKind,
      partnerId: details.partnerId,
      credential: by,
    });
    return details;
  }

  @Post('profiles/:profileId/validation')
  @OperatorOnly({ alsoKey: VALIDATOR_KEY })
  @HttpCode(200)
  @ApiOperation({ summary: 'Record a validation decision for a revision (same rules as the back-office results)' })
  @ApiOkResponse({ type: RecordedValidationDto })
  @ApiConflictResponse({ description: 'The revision was decided otherwise already (the first decision stands), or the profile kept changing meanwhile (busy: try again)' })
  async decide(
    @Param('profileId') profileId: string,
    @Body() body: RecordValidationDto,
    @Req() request: AuthenticatedRequest,
  ): Promise<RecordedValidationDto> {
    const profileKind = await this.details.kindOf(storedProfileId(profileId));
    // With the back office's own credential, it is the back office's decision (history, conflict handling), as on Kafka.
    const source = request.operator === VALIDATOR_KEY.name ? 'BACK_OFFICE' : 'OPERATOR';
    const command = ValidationResultCommand.create({ profileId, profileKind, ...body, source });
    const { effect, profile } = await this.record.execute(command);
    return { profileId: command.profileId, profileKind, effect, revision: profile.revision, status: profile.status, reasons: publicReasons(profile.reasons), version: profile.version };
  }

  @Post('tax-expiry-scan')
  @HttpCode(200)
  @ApiOperation({ summary: 'Report tax profiles expiring within the window now (also runs on a schedule)' })
  @ApiOkResponse({ type: ExpiryScanDto })
  @ApiServiceUnavailableResponse({ description: SHUTTING_DOWN })
  async scan(@NoBody() _body: EmptyBody): Promise<ExpiryScanDto> {
    return this.expiryScan.execute();
  }

  @Post('secrets/reseal')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Re-seal with the active key every stored secret sealed with another one (key rotation; run until remaining is 0)',
  })
  @ApiOkResponse({ type: ResealDto })
  @ApiConflictResponse({ description: 'activeKeyId is not the key this instance seals with' })
  @ApiServiceUnavailableResponse({ description: SHUTTING_DOWN })
  async reseal(@NoBody() _body: EmptyBody, @Query() query: ResealQueryDto): Promise<ResealDto> {
    return this.resealSecrets.execute(query.activeKeyId);
  }
}
