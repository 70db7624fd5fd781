import { CONFIG } from '@lib/platform';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { createTransport } from 'nodemailer';
import type { NotificationConfig } from '../config';
import { Message } from '../messages/message.schema';
import { mailMessageId } from '../messages/notification-events';

export interface Accepted {
  /** The server's final answer, e.g. "250 OK: queued as ...". */
  response: string;
}

/**
 * SMTP through nodemailer. One connection per message (no pool): a connection that went bad cannot poison the
 * messages after it, and timeouts bound every attempt so a hung server cannot hold a claimed message forever.
 */
@Injectable()
export class Mailer implements OnApplicationShutdown {
  private readonly transport;
  private readonly from: { name: string; address: string };

  constructor(@Inject(CONFIG) config: NotificationConfig) {
    this.transport = createTransport({
      url: config.SMTP_URL,
      connectionTimeout: config.NOTIFY_SMTP_TIMEOUT_MS,
      greetingTimeout: config.NOTIFY_SMTP_TIMEOUT_MS,
      socketTimeout: config.NOTIFY_SMTP_TIMEOUT_MS,
    });
    this.from = { name: config.MAIL_FROM_NAME, address: config.MAIL_FROM_ADDRESS };
  }

  async send(message: Pick<Message, '_id' | 'email' | 'displayName' | 'subject' | 'text' | 'html' | 'causationEventId'>): Promise<Accepted> {
    const info = await this.transport.sendMail({
      from: this.from,
      to: message.displayName ? { name: message.displayName, address: message.email } : message.email,
      subject: message.subject,
      text: message.text,
      html: message.html,
      // The same on every attempt: a resend after a crash is recognisable as the same message.
      messageId: mailMessageId(message._id),
      headers: { 'X-Notification-Id': message._id, 'X-Causation-Event-Id': message.causationEventId },
    });
    return { response: String(info.response ?? '') };
  }

  onApplicationShutdown(): void {
    this.transport.close();
  }
}

/** 5xx answers are permanent (no such mailbox, message refused): retrying cannot help. */
export function isPermanentSmtpFailure(error: unknown): boolean {
  const code = (error as { responseCode?: number })?.responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}

export function describeSmtpFailure(error: unknown): string {
  const e = error as { code?: string; responseCode?: number; message?: string };
  const parts = [e?.code, e?.responseCode, e?.message ?? String(error)].filter((p) => p !== undefined && p !== '');
  return parts.join(' ').slice(0, 1_000);
}
