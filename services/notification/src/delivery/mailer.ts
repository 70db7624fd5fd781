import { CONFIG } from '@lib/platform';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { createTransport } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { NotificationConfig } from '../config';
import { Message } from '../messages/message.schema';
import { mailMessageId } from '../messages/notification-events';

/** A pooled connection is closed and replaced after this many messages. */
const MESSAGES_PER_CONNECTION = 100;

export interface Accepted {
  /** The server's final answer, e.g. "250 OK: queued as ...". */
  response: string;
}

/**
 * SMTP through nodemailer, over a pool of up to NOTIFY_CONCURRENCY connections, each reused for at most
 * MESSAGES_PER_CONNECTION messages. Opening a connection costs a greeting (servers delay it on purpose to catch
 * clients that talk too early: 100 ms for smtp-server, seconds for Postfix's postscreen), which capped one
 * connection per message at about 10 emails per second per connection. A connection that breaks fails only the
 * message on it (retried by the worker); the pool opens a new one for the next. Timeouts bound every attempt so
 * a hung server cannot hold a claimed message forever.
 */
@Injectable()
export class Mailer implements OnApplicationShutdown {
  private readonly transport;
  private readonly from: { name: string; address: string };

  constructor(@Inject(CONFIG) config: NotificationConfig) {
    this.transport = createTransport({
      url: config.SMTP_URL,
      pool: true,
      maxConnections: config.NOTIFY_CONCURRENCY,
      maxMessages: MESSAGES_PER_CONNECTION,
      connectionTimeout: config.NOTIFY_SMTP_TIMEOUT_MS,
      greetingTimeout: config.NOTIFY_SMTP_TIMEOUT_MS,
      socketTimeout: config.NOTIFY_SMTP_TIMEOUT_MS,
    });
    this.from = { name: config.MAIL_FROM_NAME, address: config.MAIL_FROM_ADDRESS };
  }

  /**
   * The message is composed into one buffer first and handed to the transport as `raw`: streamed through
   * nodemailer's MIME and SMTP transforms instead, it reached the socket as dozens of small writes (a system call
   * each), a third of the service's socket writes in a burst.
   */
  async send(message: Pick<Message, '_id' | 'email' | 'displayName' | 'subject' | 'text' | 'html' | 'causationEventId'>): Promise<Accepted> {
    const raw = await new MailComposer({
      from: this.from,
      to: message.displayName ? { name: message.displayName, address: message.email } : message.email,
      subject: message.subject,
      text: message.text,
      html: message.html,
      // The same on every attempt: a resend after a crash is recognisable as the same message.
      messageId: mailMessageId(message._id),
      headers: { 'X-Notification-Id': message._id, 'X-Causation-Event-Id': message.causationEventId },
    })
      .compile()
      .build();
    const info = await this.transport.sendMail({ envelope: { from: this.from.address, to: [message.email] }, raw });
    return { response: String(info.response ?? '') };
  }

  onApplicationShutdown(): void {
    this.transport.close();
  }
}

/** nodemailer's codes for a rejection of this message: its envelope (MAIL FROM, RCPT TO, DATA) or its content. */
const MESSAGE_STAGE_CODES = new Set(['EENVELOPE', 'EMESSAGE']);
/**
 * 5xx answers at the message stage that say nothing about the message: 503 bad sequence of commands (a pooled
 * connection in the wrong state) and 530 authentication or STARTTLS required (the server refuses the session).
 */
const SESSION_REPLIES = new Set([503, 530]);

/**
 * Permanent only when the server refused this message or its recipient (a 5xx answer to MAIL FROM, RCPT TO or the
 * data: no such mailbox, message refused): retrying cannot help. nodemailer also puts the server's reply code on
 * session failures (EAUTH 535 after a password rotation, 530, a greeting refused, 503 on a pooled connection):
 * those concern every email alike and are retried with backoff, as are 4xx answers, refused connections and
 * timeouts.
 */
export function isPermanentSmtpFailure(error: unknown): boolean {
  const e = error as { code?: unknown; responseCode?: unknown } | null | undefined;
  const code = e?.responseCode;
  return (
    typeof e?.code === 'string' &&
    MESSAGE_STAGE_CODES.has(e.code) &&
    typeof code === 'number' &&
    code >= 500 &&
    code < 600 &&
    !SESSION_REPLIES.has(code)
  );
}

export function describeSmtpFailure(error: unknown): string {
  const e = error as { code?: string; responseCode?: number; message?: string };
  const parts = [e?.code, e?.responseCode, e?.message ?? String(error)].filter((p) => p !== undefined && p !== '');
  return parts.join(' ').slice(0, 1_000);
}
