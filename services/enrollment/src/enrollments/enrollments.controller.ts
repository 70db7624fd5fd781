import { CurrentPrincipal, EmptyBody, Idempotent, IdempotencyOf, IdempotentRequest, NoBody, OptionalIfMatch, Principal, setETag } from '@lib/platform';
import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { EnrollDto, EnrollmentDto, EnrollmentListDto, ListEnrollmentsQuery, RefreshDto } from './dto/enrollment.dto';
import { Enrollment } from './enrollment.schema';
import { EnrollLocation } from './usecases/enroll-location.use-case';
import { ReadEnrollments } from './usecases/read-enrollments.use-case';
import { SubmitEnrollment } from './usecases/submit-enrollment.use-case';

@ApiTags('enrollments')
@ApiBearerAuth()
@Controller('v1/enrollments')
export class EnrollmentsController {
  constructor(
    private readonly enrollLocation: EnrollLocation,
    private readonly submitEnrollment: SubmitEnrollment,
    private readonly readEnrollments: ReadEnrollments,
  ) {}

  @Post()
  @Idempotent()
  @ApiOperation({
    summary: 'Enroll a location in a program (its Incentives admin); enrolling again is Continue',
    description:
      'Proposes the default bank profile (or the chosen bankProfileId) and the tax profile. nextAction SUBMIT when the ' +
      "program's payout rules are met (status INVITED), CONTINUE otherwise (status ACTION_REQUIRED, with missing and " +
      'completeAt). 201 when this call started the enrollment, 200 for an existing one.',
  })
  @ApiCreatedResponse({ type: EnrollmentDto })
  @ApiOkResponse({ type: EnrollmentDto, headers: { Location: { description: 'The enrollment', schema: { type: 'string' } } } })
  @ApiForbiddenResponse({ description: 'Not an Incentives admin of the location' })
  @ApiNotFoundResponse({ description: "Unknown program, or another partner's location" })
  @ApiConflictResponse({
    description:
      '`program-not-open` (with `programState`): program closed or discontinued; enrollment ended; `fiscal-year-ended`: the fiscal year is over (the program still in it, ' +
      'or the enrollment not ENROLLED: the rollover continues or expires it); an enrollment of a year the program has moved past (with ' +
      '`fiscalYear` and `programFiscalYear`) not started yet; another bank profile for a submitted enrollment outside Action required, or ' +
      'for one continued into the next year already (an early rollover run); busy: the enrollment kept changing, or the ' +
      "location's default bank profile is changing, retry (Retry-After)",
  })
  @ApiUnprocessableEntityResponse({ description: "`location-not-eligible`: the location is not eligible for the program; `agreement-inactive`: the partner's agreement is not active" })
  @ApiHeader({ name: 'If-Match', required: false, description: 'Optional, for an existing enrollment: the version (ETag) read; stale answers 412. "0": none yet (starts one; 412 if there is one)' })
  async enroll(
    @CurrentPrincipal() principal: Principal,
    @Body() body: EnrollDto,
    @OptionalIfMatch() version: number | undefined,
    @IdempotencyOf() idempotency: IdempotentRequest | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<EnrollmentDto> {
    const { enrollment, started } = await this.enrollLocation.enroll(principal, body, version, idempotency);
    res.status(started ? 201 : 200);
    res.setHeader('Location', `/v1/enrollments/${enrollment._id}`);
    return await this.answer(enrollment, res);
  }

  @Post(':enrollmentId/refresh')
  @HttpCode(200)
  @ApiOperation({ summary: 'Continue: check the enrollment again against the current profiles (optionally choosing another bank profile)' })
  @ApiHeader({ name: 'If-Match', required: false, description: 'Optional: the version (ETag) read; stale answers 412' })
  @ApiOkResponse({ type: EnrollmentDto })
  @ApiConflictResponse({
    description:
      'Enrollment ended; another bank profile outside Action required after Submit, or for one continued into the next year ' +
      'already; `program-not-open` (with `programState`): one not started yet (invited, or ineligible) whose program is closed or ' +
      'discontinued; one not started yet of a year the program has moved past (with `fiscalYear` and `programFiscalYear`); ' +
      '`fiscal-year-ended`: its fiscal year is over ' +
      'and it is not ENROLLED (the rollover continues or expires it); busy: the enrollment kept changing, or the location\'s ' +
      'default bank profile is changing, retry (Retry-After)',
  })
  @ApiUnprocessableEntityResponse({
    description: "`location-not-eligible`: an enrollment not started yet (invited, or ineligible) whose location is not eligible for the program; `agreement-inactive`: one not started yet while the partner's agreement is not active",
  })
  async refresh(
    @CurrentPrincipal() principal: Principal,
    @Param('enrollmentId') enrollmentId: string,
    @Body() body: RefreshDto,
    @OptionalIfMatch() version: number | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<EnrollmentDto> {
    const { enrollment } = await this.enrollLocation.refresh(principal, enrollmentId, body, version);
    return await this.answer(enrollment, res);
  }

  @Post(':enrollmentId/submit')
  @HttpCode(200)
  @ApiHeader({ name: 'If-Match', required: false, description: 'Optional: the version (ETag) read; stale answers 412' })
  @ApiOperation({ summary: 'Submit the proposal for validation: VALIDATING, or ENROLLED when the profiles are already approved' })
  @ApiOkResponse({ type: EnrollmentDto })
  @ApiUnprocessableEntityResponse({
    description:
      "The program's payout rules are not met: `missing` and `completeAt` say what and where; `location-not-eligible`: the location is no longer eligible; `agreement-inactive`: the partner's agreement is not active",
  })
  @ApiConflictResponse({
    description:
      'Not submittable (ended, continued into the next year, never enrolled); `program-not-open` (with `programState`): its program was ' +
      'discontinued meanwhile (the enrollment ended with it); `fiscal-year-ended`: its fiscal year is over and it is ' +
      'not ENROLLED (the rollover continues or expires it); `bank-profile-not-serving`: the bank profile chosen no longer serves the ' +
      "location; `proposal-changed`: the location's default bank profile or tax profile was replaced since it was proposed (Continue first); " +
      'busy: the enrollment kept changing, retry (Retry-After)',
  })
  async submit(
    @CurrentPrincipal() principal: Principal,
    @Param('enrollmentId') enrollmentId: string,
    @OptionalIfMatch() version: number | undefined,
    @NoBody() _body: EmptyBody,
    @Res({ passthrough: true }) res: Response,
  ): Promise<EnrollmentDto> {
    const enrollment = await this.submitEnrollment.execute(principal, enrollmentId, version);
    return await this.answer(enrollment, res);
  }

  @Get()
  @ApiOperation({ summary: 'Enrollments of the locations the caller may see' })
  @ApiOkResponse({ type: EnrollmentListDto })
  @ApiNotFoundResponse({ description: 'locationId names no location the caller may see: none, or another partner\'s' })
  async list(@CurrentPrincipal() principal: Principal, @Query() query: ListEnrollmentsQuery): Promise<EnrollmentListDto> {
    return this.readEnrollments.list(principal, query);
  }

  @Get(':enrollmentId')
  @ApiOperation({ summary: 'One enrollment' })
  @ApiOkResponse({ type: EnrollmentDto })
  @ApiNotFoundResponse({ description: "Unknown, or another partner's" })
  async get(@CurrentPrincipal() principal: Principal, @Param('enrollmentId') enrollmentId: string, @Res({ passthrough: true }) res: Response): Promise<EnrollmentDto> {
    const dto = await this.readEnrollments.get(principal, enrollmentId);
    setETag(res, dto.version);
    return dto;
  }

  /** Enroll, Continue and Submit answer their caller, the location's Incentives admin, as GET would. */
  private async answer(enrollment: Enrollment, res: Response): Promise<EnrollmentDto> {
    setETag(res, enrollment.version);
    return this.readEnrollments.forItsAdmin(enrollment);
  }
}
