import { CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import type { NotificationConfig } from '../../config';
import { TemplateRenderer } from '../../rendering/template-renderer';
import { Message } from '../message.schema';
import { MessagePlanner } from '../message-planner';
import { PlannedEvent } from '../planned-event.schema';

const DAY_MS = 86_400_000;

/**
 * An email whose words depend on the day it is sent, rendered again when it goes out on a later day (UTC) than it was
 * written: a tax profile's "expires on July 1, 2027 (in 3 days)", counted when its event was handled, and sent a day
 * later (a retry past midnight) or days later (an operator's resend) would tell the wrong count. Planned again from
 * its event (kept for those that ask someone to act: PlannedEvent.handOver), for its recipient as addressed now (their
 * name in the greeting). Undefined when it need not, or cannot, be (the event not kept, no longer planned, or planned
 * for others than its recipient now): the email goes as it was written.
 */
@Injectable()
export class RenderAgain {
  private readonly logger = new Logger(RenderAgain.name);

  constructor(
    @InjectModel(PlannedEvent.name) private readonly plannedEvents: Model<PlannedEvent>,
    private readonly planner: MessagePlanner,
    private readonly renderer: TemplateRenderer,
    @Inject(CONFIG) private readonly config: Pick<NotificationConfig, 'MAIL_FROM_NAME'>,
  ) {}

  async execute(
    email: Pick<Message, '_id' | 'template' | 'createdAt' | 'causationEventId' | 'userId'>,
    to: { email: string; displayName?: string },
    now = new Date(),
  ): Promise<Pick<Message, 'subject' | 'text' | 'html'> | undefined> {
    if (email.template !== 'tax-profile-expiring') return undefined;
    if (Math.floor(now.getTime() / DAY_MS) === Math.floor(new Date(email.createdAt).getTime() / DAY_MS)) return undefined;
    try {
      const source = (await this.plannedEvents.findById(email.causationEventId).lean<PlannedEvent>())?.handOver;
      const plan = source && (await this.planner.plan(source.topic, source.envelope));
      // Planned for its recipient again as then (not for company admins told in place of the location's Incentives
      // admin, once it has one: their wording says why they were told).
      if (!plan || plan.template !== email.template || !plan.recipients.some((recipient) => recipient.userId === email.userId)) return undefined;
      const rendered = this.renderer.render(plan.template, {
        ...plan.context,
        link: plan.link,
        senderName: this.config.MAIL_FROM_NAME,
        recipientName: to.displayName || to.email,
      });
      return { subject: rendered.subject, text: rendered.text, html: rendered.html };
    } catch (error) {
      this.logger.warn(`${email._id}: not rendered again for today (${(error as Error).message}); sent as written`);
      return undefined;
    }
  }
}
