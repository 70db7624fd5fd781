import { OutboxRelay } from '@lib/messaging';
import { Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiSecurity, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional } from 'class-validator';
import { OperatorOnly } from '../auth/principal';
import { BackgroundWork } from '../lifecycle/background-work';
import { EmptyBody, NoBody } from '../http/empty-body';
import { PageLimit } from '../http/page';

export class ParkedQuery {
  @PageLimit({ max: 1_000, defaultSize: 100, description: 'Parked events listed at most' })
  limit?: number;
}

export class RequeueQuery {
  @ApiPropertyOptional({
    default: false,
    description: "Also the events the broker refused on their own (say so once their topics' max.message.bytes is raised)",
  })
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean()
  brokerRefused?: boolean;
}

export class ParkedEntryDto {
  @ApiProperty({ example: 'enrollments' }) collection!: string;
  @ApiProperty() documentId!: string;
  @ApiProperty() eventId!: string;
  @ApiProperty({ example: 'enrollments.events.v1' }) topic!: string;
  @ApiProperty() key!: string;
  @ApiProperty({ description: 'Key, value and a record overhead, as counted against OUTBOX_MAX_RECORD_BYTES' }) bytes!: number;
  @ApiProperty() reason!: string;
  @ApiProperty({ type: String, format: 'date-time' }) parkedAt!: string;
  @ApiProperty({ description: "Refused by the broker on its own (its topic's max.message.bytes), not by OUTBOX_MAX_RECORD_BYTES" })
  refusedByBroker!: boolean;
}

export class ParkedListDto {
  @ApiProperty({ type: [ParkedEntryDto] }) items!: ParkedEntryDto[];
  @ApiProperty({ description: 'More are parked than `limit` listed (requeue acts on them all; a larger limit lists more, up to 1,000)' })
  more!: boolean;
}

export class RequeueResultDto {
  @ApiProperty({ description: 'Parked events put back in their outboxes, published next' }) requeued!: number;
  @ApiProperty({ description: 'Parked events still larger than OUTBOX_MAX_RECORD_BYTES: left parked' }) tooLarge!: number;
  @ApiProperty({ description: 'Parked events the broker refused on their own, left parked (requeued with brokerRefused=true)' }) refusedByBroker!: number;
}

/**
 * The outbox entries the relay set aside because no broker would take them (larger than OUTBOX_MAX_RECORD_BYTES),
 * for the platform's operators, in every service: list them, and put them back once the topics' max.message.bytes
 * and the setting are raised (and the service restarted with it).
 */
@ApiTags('operator')
@ApiSecurity('operator')
@OperatorOnly()
@Controller('v1/operator/outbox')
export class OutboxController {
  constructor(
    private readonly relay: OutboxRelay,
    private readonly work: BackgroundWork,
  ) {}

  @Get('parked')
  @ApiOperation({ summary: 'Events the outbox relay set aside as too large to publish (a scan of the outbox collections)' })
  @ApiOkResponse({ type: ParkedListDto })
  async parked(@Query() query: ParkedQuery): Promise<ParkedListDto> {
    const limit = query.limit ?? 100;
    // One more than asked: whether the list stops short of what is parked.
    const items = await this.relay.parked(limit + 1);
    return { items: items.slice(0, limit).map((item) => ({ ...item, parkedAt: item.parkedAt.toISOString() })), more: items.length > limit };
  }

  @Post('parked/requeue')
  @HttpCode(200)
  @ApiOperation({ summary: 'Put the parked events that fit OUTBOX_MAX_RECORD_BYTES now back in their outboxes, to be published' })
  @ApiOkResponse({ type: RequeueResultDto })
  @ApiServiceUnavailableResponse({ description: 'The service is shutting down (shutting-down): ask again, another instance takes it' })
  requeue(@Query() query: RequeueQuery, @NoBody() _body: EmptyBody): Promise<RequeueResultDto> {
    // Tracked: a shutdown waits for it (bounded by SHUTDOWN_TIMEOUT_MS) and, once begun, starts none (503).
    return this.work.run('outbox-requeue', () => this.relay.requeueParked({ brokerRefused: query.brokerRefused === true }));
  }
}
