import { CurrentPrincipal, Principal } from '@lib/platform';
import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { OverviewDto, OverviewQuery } from './dto/overview.dto';
import { GetOverview } from './usecases/get-overview.use-case';

@ApiTags('overview')
@ApiBearerAuth()
@Controller('v1/overview')
export class OverviewController {
  constructor(private readonly getOverview: GetOverview) {}

  @Get()
  @ApiOperation({
    summary: 'Incentives overview: per location, the programs it can enroll in, their status and the Enroll action; a page of locations at a time',
  })
  @ApiOkResponse({ type: OverviewDto })
  async overview(@CurrentPrincipal() principal: Principal, @Query() query: OverviewQuery): Promise<OverviewDto> {
    const page = await this.getOverview.execute(principal, query);
    return { locations: page.items, ...(page.nextCursor && { nextCursor: page.nextCursor }) };
  }
}
