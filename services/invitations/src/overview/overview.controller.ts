import { CurrentPrincipal, Principal } from '@lib/platform';
import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { OverviewDto } from './dto/overview.dto';
import { GetOverview } from './usecases/get-overview.use-case';

@ApiTags('overview')
@ApiBearerAuth()
@Controller('v1/overview')
export class OverviewController {
  constructor(private readonly getOverview: GetOverview) {}

  @Get()
  @ApiOperation({
    summary: 'Incentives overview: per location, the programs it can enroll in, their status and the Enroll action',
  })
  @ApiOkResponse({ type: OverviewDto })
  async overview(@CurrentPrincipal() principal: Principal): Promise<OverviewDto> {
    return { locations: await this.getOverview.execute(principal) };
  }
}
