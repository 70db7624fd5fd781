import { CurrentPrincipal, Principal } from '@lib/platform';
import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ReadinessQueryDto } from './dto/readiness-query.dto';
import { ReadinessDto } from './dto/readiness.dto';
import { CheckReadiness } from './usecases/check-readiness.use-case';

@ApiTags('readiness')
@ApiBearerAuth()
@Controller('v1/readiness')
export class ReadinessController {
  constructor(private readonly check: CheckReadiness) {}

  @Get()
  @ApiOperation({ summary: "Does the location meet the program's payout rules? Lists what is missing (MissingPayoutItems codes)" })
  @ApiOkResponse({ type: ReadinessDto })
  @ApiNotFoundResponse({ description: 'locationId names no location the caller may see: none, or another partner\'s' })
  async get(@CurrentPrincipal() principal: Principal, @Query() query: ReadinessQueryDto): Promise<ReadinessDto> {
    return this.check.execute(principal, query);
  }
}
