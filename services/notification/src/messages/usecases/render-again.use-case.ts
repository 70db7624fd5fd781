import { CONFIG } from '@lib/platform';
import { Inject, Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import type { NotificationConfig } from '../../config';
import { TemplateRenderer } from '../../rendering/template-renderer';
import { Message } from '../message.schema';
import { MessagePlanner } from '../message-planner';
import { renderFor } from '../message-writer';
import { PlannedEvent } from '../planned-event.schema';
import { servingOnly } from './hand-over-messages.use-case';

const DAY_MS = 86_400_000;

/**
 * An email whose words no longer fit when it goes out, rendered again: its recipient's name changed while it waited
 * (the greeting names them; it goes to their current address and name), or it depends on the day it is sent and goes
 * on a later day (UTC) than it was written (a tax profile's "expires on July 1, 2027 (in 3 days)", counted when its
 * event was handled, sent a day later after a retry past midnight, or days later by an operator's resend). Planned
 * again from its event (kept for those that ask someone to act: PlannedEvent.handOver), for its recipient as the
 * plan finds them now; a bank profile's as serving the locations it serves now (`stillServed`, as HandOverMessages
 * plans it). Undefined when it need not, or cannot, be (the event not kept, no longer planned, or planned for others
 * than its recipient now): the email goes as it was written. A failure (the database) is thrown: the attempt is
 * retried, as one failing before its SMTP exchange is.
 */
@Injectable()
export class RenderAgain {
  constructor(
    @InjectModel(PlannedEvent.name) private readonly plannedEvents: Model<PlannedEvent>,
    private readonly planner: MessagePlanner,
    private readonly renderer: TemplateRenderer,
    @Inject(CONFIG) private readonly config: Pick<NotificationConfig, 'MAIL_FROM_NAME'>,
  ) {}

  async execute(
    email: Pick<Message, '_id' | 'template' | 'createdAt' | 'causationEventId' | 'userId' | 'email' | 'displayName'>,
    to: { email: string; displayName?: string },
    { stillServed, now = new Date() }: { stillServed?: string[]; now?: Date } = {},
  ): Promise<Pick<Message, 'subject' | 'text' | 'html'> | undefined> {
    const renamed = (to.displayName || to.email) !== (email.displayName || email.email);
    const laterDay = Math.floor(now.getTime() / DAY_MS) !== Math.floor(new Date(email.createdAt).getTime() / DAY_MS);
    if (!renamed && !(laterDay && email.template === 'tax-profile-expiring')) return undefined;
    const source = (await this.plannedEvents.findById(email.causationEventId).lean<PlannedEvent>())?.handOver;
    const plan = source && (await this.planner.plan(source.topic, stillServed ? servingOnly(source.envelope, stillServed) : source.envelope));
    // Planned for its recipient again as then (not for company admins told in place of the location's Incentives
    // admin, once it has one: their wording says why they were told).
    const planned = plan?.template === email.template ? plan.recipients.find((recipient) => recipient.userId === email.userId) : undefined;
    if (!plan || !planned) return undefined;
    // Found by the plan in the recipient view, as `to` was: their address and name now.
    const rendered = renderFor(this.renderer, plan, planned, this.config.MAIL_FROM_NAME);
    return { subject: rendered.subject, text: rendered.text, html: rendered.html };
  }
}
