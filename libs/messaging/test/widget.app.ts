/**
 * A minimal service built on the platform, used to test the messaging library end to end against the real
 * broker and database: HTTP writes emit events through the outbox; a consumer counts agreement events.
 */
import { AgreementStatusChanged, Topics } from '@lib/contracts';
import { ConsumedEvent, EventOutbox, KafkaEventServer, outboxPlugin, pushOutbox } from '@lib/messaging';
import { OperatorOnly, PlatformModule } from '@lib/platform';
import { Body, Controller, Get, HttpCode, Injectable, Module, OnModuleDestroy, Param, Post } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { InjectModel, MongooseModule, Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { IsBoolean } from 'class-validator';
import { Model } from 'mongoose';
import { existsSync } from 'node:fs';

@Schema({ collection: 'widgets' })
export class Widget {
  @Prop({ type: String }) _id!: string;
  @Prop({ default: 0 }) count!: number;
  @Prop({ default: 0 }) consumed!: number;
  /** The instance (WIDGET_INSTANCE) that handled the last event, for tests with two replicas in one group. */
  @Prop() handledBy?: string;
  /** Pages of long work (LONG_PREFIX) done, and how many times that work was begun. */
  @Prop() pages?: number;
  @Prop() runs?: number;
  /** When a slow handler (SLOW_PREFIX) began: it is in flight from then for 1.5 s. */
  @Prop() slowStartedAt?: Date;
}
export const WidgetSchema = SchemaFactory.createForClass(Widget);
WidgetSchema.plugin(outboxPlugin);

class WidgetInput {
  @IsBoolean() active!: boolean;
}

/** Partners whose events take a while to handle, to test shutdown with work in flight. */
export const SLOW_PREFIX = 'slow-';
export const ECHO_PREFIX = 'echo-';
/**
 * Partners whose events start long, resumable work: LONG_PAGES pages of 100 ms, each recorded, a heartbeat between.
 * Only with WIDGET_LONG_WORK=true: another test's service reading the topic from its start handles them as any other.
 */
export const LONG_PREFIX = 'long-';
export const LONG_PAGES = 40;

@Controller('v1/widgets')
export class WidgetController {
  /** Read as the service is built (bootService sets its environment for that time only). */
  private readonly longWork = process.env.WIDGET_LONG_WORK === 'true';

  constructor(
    @InjectModel(Widget.name) private readonly widgets: Model<Widget>,
    private readonly outbox: EventOutbox,
  ) {}

  /** Changes state and emits an event in the same single-document write. `kick=false` leaves it to the relay poll. */
  @OperatorOnly()
  @Post(':id')
  @HttpCode(200)
  async write(@Param('id') id: string, @Body() input: WidgetInput) {
    const event = this.outbox.event(Topics.agreements, {
      type: 'AgreementStatusChanged',
      data: { partnerId: `${ECHO_PREFIX}${id}`, active: input.active },
    });
    await this.widgets.updateOne({ _id: id }, { $inc: { count: 1 }, $push: pushOutbox([event]) }, { upsert: true });
    if (process.env.WIDGET_KICK !== 'false') this.outbox.committed();
    return { eventId: event.eventId };
  }

  @OperatorOnly()
  @Get(':id')
  async read(@Param('id') id: string) {
    return this.widgets.findById(id).select('+outbox').lean();
  }

  /** Deliberately not idempotent by itself ($inc): only the ledger keeps duplicates out. */
  @EventPattern(Topics.agreements)
  async onAgreement(@Payload() event: ConsumedEvent<AgreementStatusChanged>) {
    const { partnerId } = event.envelope.data;
    if (partnerId.startsWith(ECHO_PREFIX)) return;
    if (partnerId.startsWith(LONG_PREFIX) && this.longWork) {
      // Resumable, as a sweep is: each page recorded as it is done, the work begun again where it stopped.
      const begun = await this.widgets.findOneAndUpdate({ _id: partnerId }, { $inc: { runs: 1 } }, { upsert: true, new: true }).lean();
      for (let page = begun?.pages ?? 0; page < LONG_PAGES; page++) {
        await new Promise((r) => setTimeout(r, 100));
        await this.widgets.updateOne({ _id: partnerId }, { $set: { pages: page + 1 } });
        await event.heartbeat();
      }
    }
    if (partnerId.startsWith(SLOW_PREFIX)) {
      // Marked first, so that a test can tell the handler is in flight (and not merely that the message was sent).
      await this.widgets.updateOne({ _id: partnerId }, { $set: { slowStartedAt: new Date() } }, { upsert: true });
      await new Promise((r) => setTimeout(r, 1_500));
    }
    // Held while the file WIDGET_GATE_FILE names exists (a test opens it), then every event takes
    // WIDGET_HANDLER_DELAY_MS: a replica kept busy, so that another joining the group finds work in flight.
    const gate = process.env.WIDGET_GATE_FILE;
    while (gate && existsSync(gate)) await new Promise((r) => setTimeout(r, 50));
    const delayMs = Number(process.env.WIDGET_HANDLER_DELAY_MS ?? 0);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    const echo = this.outbox.event(Topics.agreements, {
      type: 'AgreementStatusChanged',
      data: { partnerId: `${ECHO_PREFIX}${partnerId}`, active: true },
    });
    await this.widgets.updateOne(
      { _id: partnerId },
      { $inc: { consumed: 1 }, $set: { handledBy: process.env.WIDGET_INSTANCE ?? 'widgets' }, $push: pushOutbox([echo]) },
      { upsert: true },
    );
    this.outbox.committed();
  }
}

/** What a module's destroy hook (a drain, a batch job's wait) sees of the consumers when the service shuts down. */
@Injectable()
export class ShutdownProbe implements OnModuleDestroy {
  consumingAtDestroy?: boolean;

  constructor(private readonly consumers: KafkaEventServer) {}

  onModuleDestroy(): void {
    this.consumingAtDestroy = this.consumers.isRunning;
  }
}

@Module({
  imports: [
    PlatformModule.forService({ name: 'widgets' }),
    MongooseModule.forFeature([{ name: Widget.name, schema: WidgetSchema }]),
  ],
  controllers: [WidgetController],
  providers: [ShutdownProbe],
})
export class WidgetAppModule {}

/** The same service with its one topic read by a consumer of its own (group `<KAFKA_GROUP_ID>-agreements`). */
@Module({
  imports: [
    PlatformModule.forService({ name: 'widgets', ownConsumers: { agreements: [Topics.agreements] } }),
    MongooseModule.forFeature([{ name: Widget.name, schema: WidgetSchema }]),
  ],
  controllers: [WidgetController],
})
export class WidgetOwnConsumerAppModule {}
