import { EmptyBody, NoBody, OperatorOnly } from '@lib/platform';
import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { ResealSecrets } from '../secrets/reseal-secrets.use-case';
import { ScanExpiringTaxProfiles } from '../tax-profiles/usecases/scan-expiring-tax-profiles.use-case';
import { RecordValidationDto } from '../validation/dto/record-validation.dto';
import { RecordValidationResult } from '../validation/usecases/record-validation-result.use-case';
import { ValidationResultCommand } from '../validation/usecases/validation-result.command';
import { BankProfileDetailsDto, ExpiryScanDto, RecordedValidationDto, ResealDto, TaxProfileDetailsDto } from './dto/operator.dto';
import { ReadProfileDetails } from './read-profile-details.use-case';

/** The payments back office and platform operators (X-Operator-Key). */
@ApiTags('operator')
@ApiSecurity('operator')
@OperatorOnly()
@Controller('v1/operator')
export class OperatorController {
  constructor(
    private readonly details: ReadProfileDetails,
    private readonly record: RecordValidationResult,
    private readonly expiryScan: ScanExpiringTaxProfiles,
    private readonly resealSecrets: ResealSecrets,
  ) {}

  @Get('profiles/:profileId')
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
  async get(@Param('profileId') profileId: string): Promise<BankProfileDetailsDto | TaxProfileDetailsDto> {
    return this.details.execute(profileId);
  }

  @Post('profiles/:profileId/validation')
  @HttpCode(200)
  @ApiOperation({ summary: 'Record a validation decision for a revision (same rules as the back-office results)' })
  @ApiOkResponse({ type: RecordedValidationDto })
  async decide(@Param('profileId') profileId: string, @Body() body: RecordValidationDto): Promise<RecordedValidationDto> {
    const profileKind = await this.details.kindOf(profileId);
    const command = ValidationResultCommand.create({ profileId, profileKind, ...body, source: 'OPERATOR' });
    const { effect, profile } = await this.record.execute(command);
    return { profileId, profileKind, effect, revision: profile.revision, status: profile.status, reasons: profile.reasons, version: profile.version };
  }

  @Post('tax-expiry-scan')
  @HttpCode(200)
  @ApiOperation({ summary: 'Report tax profiles expiring within the window now (also runs on a schedule)' })
  @ApiOkResponse({ type: ExpiryScanDto })
  async scan(@NoBody() _body: EmptyBody): Promise<ExpiryScanDto> {
    return this.expiryScan.execute();
  }

  @Post('secrets/reseal')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Re-seal with the active key every stored secret sealed with another one (key rotation; run until remaining is 0)',
  })
  @ApiOkResponse({ type: ResealDto })
  async reseal(@NoBody() _body: EmptyBody): Promise<ResealDto> {
    return this.resealSecrets.execute();
  }
}
