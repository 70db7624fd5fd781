import { Caller, CurrentCaller, Idempotent, IdempotencyOf, IdempotentRequest, IfMatch, OperatorOnly, OperatorOrUser, setETag } from '@lib/platform';
import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import {
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPreconditionFailedResponse,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { CreateProgramDto, ListProgramsQuery, ProgramDto, ProgramListDto, UpdateProgramDto } from './dto/program.dto';
import { toProgramDto } from './program-rules';
import { CreateProgram } from './usecases/create-program.use-case';
import { ReadPrograms } from './usecases/read-programs.use-case';
import { UpdateProgram } from './usecases/update-program.use-case';

@ApiTags('programs')
@Controller('v1/programs')
export class ProgramsController {
  constructor(
    private readonly createProgram: CreateProgram,
    private readonly updateProgram: UpdateProgram,
    private readonly readPrograms: ReadPrograms,
  ) {}

  @Post()
  @OperatorOnly()
  @Idempotent()
  @ApiSecurity('operator')
  @ApiOperation({ summary: 'Add a program to the catalog (operators); published as ProgramCreated' })
  @ApiCreatedResponse({ type: ProgramDto })
  @ApiConflictResponse({ description: 'A program with this id exists' })
  async create(
    @Body() body: CreateProgramDto,
    @IdempotencyOf() idempotency: IdempotentRequest | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ProgramDto> {
    const program = await this.createProgram.execute(body, idempotency);
    setETag(res, program.revision);
    res.setHeader('Location', `/v1/programs/${encodeURIComponent(program._id)}`);
    return toProgramDto(program);
  }

  @Patch(':programId')
  @OperatorOnly()
  @HttpCode(200)
  @ApiSecurity('operator')
  @ApiHeader({ name: 'If-Match', required: true, description: 'The revision (ETag) read' })
  @ApiOperation({ summary: 'Change a program (operators): name, fiscal year, eligibility, payout rules, state; published as ProgramUpdated' })
  @ApiOkResponse({ type: ProgramDto })
  @ApiPreconditionFailedResponse({ description: 'Stale If-Match' })
  @ApiConflictResponse({ description: 'The program is discontinued, or the change moves its fiscal year back' })
  async update(
    @Param('programId') programId: string,
    @IfMatch() revision: number,
    @Body() body: UpdateProgramDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ProgramDto> {
    const program = await this.updateProgram.execute(programId, revision, body);
    setETag(res, program.revision);
    return toProgramDto(program);
  }

  // Operators too: they change the catalog (PATCH needs the revision read, and payoutRules whole).
  @Get()
  @OperatorOrUser()
  @ApiOperation({ summary: 'The program catalog (operators, and anyone holding a role in their partner: a company role, or an incentives role)' })
  @ApiOkResponse({ type: ProgramListDto })
  @ApiForbiddenResponse({ description: 'The caller holds no role in their partner' })
  async list(@CurrentCaller() caller: Caller, @Query() query: ListProgramsQuery): Promise<ProgramListDto> {
    const page = await this.readPrograms.list(caller, query);
    return { ...page, items: page.items.map(toProgramDto) };
  }

  @Get(':programId')
  @OperatorOrUser()
  @ApiOperation({ summary: 'One program (operators, and anyone holding a role in their partner)' })
  @ApiOkResponse({ type: ProgramDto })
  @ApiForbiddenResponse({ description: 'The caller holds no role in their partner' })
  @ApiNotFoundResponse()
  async get(@CurrentCaller() caller: Caller, @Param('programId') programId: string, @Res({ passthrough: true }) res: Response): Promise<ProgramDto> {
    const program = await this.readPrograms.get(caller, programId);
    setETag(res, program.revision);
    return toProgramDto(program);
  }
}
