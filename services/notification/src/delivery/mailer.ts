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
      // Options the URL's query names (`?requireTLS=false`) take precedence: nodemailer applies them after these.
      requireTLS: mustUpgrade(config.SMTP_URL),
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
      // Sent by a program, not a person (RFC 3834): out-of-office and vacation responders do not answer it.
      headers: { 'Auto-Submitted': 'auto-generated', 'X-Notification-Id': message._id, 'X-Causation-Event-Id': message.causationEventId },
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

/**
 * Whether the connection must be upgraded with STARTTLS before anything is sent: an `smtp:` URL that carries credentials,
 * to another host than this machine. nodemailer upgrades only when the server offers STARTTLS, so someone on the path
 * removing the offer from its EHLO answer would be sent the user and password in clear (AUTH). `smtps:` is TLS from
 * the start; a server on the loopback interface (a local relay) is reached over no network. `?requireTLS=false` in the
 * URL says otherwise, for a server that cannot do TLS.
 */
export function mustUpgrade(smtpUrl: string): boolean {
  const url = new URL(smtpUrl);
  if (url.protocol !== 'smtp:' || (!url.username && !url.password)) return false;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return !(host === 'localhost' || host === '::1' || /^127\./.test(host));
}

/** nodemailer's codes for a rejection of this message: its envelope (MAIL FROM, RCPT TO, DATA) or its content. */
const MESSAGE_STAGE_CODES = new Set(['EENVELOPE', 'EMESSAGE']);
/**
 * 5xx answers at the message stage that say nothing about the message: 503 bad sequence of commands (a pooled
 * connection in the wrong state) and 530 authentication or STARTTLS required (the server refuses the session).
 */
const SESSION_REPLIES = new Set([503, 530]);

/**
 * The enhanced status code (RFC 3463) at the start of a server's reply, e.g. "5.7.1" in "550 5.7.1 Relaying denied"
 * (or "550-5.7.1 ..." on a multi-line reply); undefined when the server sends none.
 */
function enhancedStatus(response: unknown): string | undefined {
  if (typeof response !== 'string') return undefined;
  return /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})(?![\d.])/.exec(response)?.[1];
}

/**
 * Enhanced status codes of refusals that concern the sender or the relay rather than the message: 5.7.x, security
 * or policy (550 5.7.1 Relaying denied, 550 5.7.26 unauthenticated sender domain, 5.7.8 credentials), and 5.2.0 (554
 * 5.2.0 SendAsDenied: this account may not send as MAIL_FROM_ADDRESS).
 */
function isSenderOrPolicyRefusal(status: string | undefined): boolean {
  return status !== undefined && (status.startsWith('5.7.') || status === '5.2.0' || status === '5.1.7' || status === '5.1.8');
}

/**
 * A refusal of the sender worded so, without an enhanced status code to tell it: Postfix at RCPT TO when it delays its
 * rejects ("Sender address rejected"), Exim's sender verification ("Sender verify failed", "Verification failed for
 * <sender>"), Amazon SES at the end of DATA for a sender identity it has not verified ("554 Message rejected: Email
 * address is not verified. The following identities failed the check...").
 */
const SENDER_REFUSED = /sender address rejected|sender verify failed|verification failed for|email address is not verified|identities failed the check/i;

/**
 * A refusal of the account's sending as a whole, for a while (a daily quota used up, sending paused), not of this
 * message: Gmail's "550 5.4.5 Daily user sending quota exceeded", Exchange Online's "550 5.1.90 ... reached its daily
 * limit for message recipients", Amazon SES's "554 Message rejected: Sending paused for this account", a relay's
 * "552 ... relay quota". Taken as permanent, every queued email failed within seconds until the quota reset.
 */
const ACCOUNT_LIMITED = /sending quota|relay quota|sending paused|sending limit|daily limit for (?:message )?recipients|too many (?:messages|recipients)|rate limit/i;

/**
 * The account's sending limited (ACCOUNT_LIMITED, 5.4.5, 5.1.90), not this recipient's mailbox over its quota (5.2.2)
 * nor this message too large (5.3.4): those stay this email's own, permanent.
 */
function isAccountLimit(status: string | undefined, response: unknown): boolean {
  if (status === '5.2.2' || status === '5.3.4') return false;
  return status === '5.4.5' || status === '5.1.90' || (typeof response === 'string' && ACCOUNT_LIMITED.test(response));
}

/**
 * Permanent only when the server refused this message or its recipient (a 5xx answer to RCPT TO or to the data: no
 * such mailbox, message refused): retrying cannot help. Every email goes out with the same sender over the same
 * account, so what concerns the sender or the session concerns every email alike, and ends once the configuration is
 * fixed: those are retried with backoff (and FAILED after NOTIFY_MAX_ATTEMPTS if nobody fixes it), as are 4xx answers,
 * refused connections and timeouts. They are:
 *  - any refusal of MAIL FROM (553/550 sender not owned by the account, sender domain refused), also one a server
 *    gives at RCPT TO (Postfix's delayed rejects: "550 5.1.0 <sender>: Sender address rejected"), told by its text or
 *    by the sender's enhanced status codes (5.1.7 bad sender address syntax, 5.1.8 bad sender's system address);
 *  - a policy or relay refusal at any stage, told by its enhanced status code: 5.7.x (550 5.7.1 Relaying denied) and
 *    5.2.0 (554 5.2.0 SendAsDenied);
 *  - 503 and 530 at the message stage, and the session failures nodemailer also puts a reply code on (EAUTH 535
 *    after a password rotation, a greeting or EHLO refused);
 *  - a reply naming `sender` (MAIL_FROM_ADDRESS), whatever its wording, or worded as a sender refusal (SENDER_REFUSED);
 *  - the account's sending limited for a while (ACCOUNT_LIMITED: a quota used up, sending paused; 5.4.5, 5.1.90).
 */
export function isPermanentSmtpFailure(error: unknown, sender?: string): boolean {
  const e = error as { code?: unknown; responseCode?: unknown; command?: unknown; response?: unknown } | null | undefined;
  const code = e?.responseCode;
  // A reply that names the sender (MAIL_FROM_ADDRESS) is about the sender, whatever its wording: the sender as a whole
  // address, not inside another (a recipient channelpartners@ refused, the sender partners@).
  const namesSender = !!sender && typeof e?.response === 'string' && namesAddress(e.response, sender);
  return (
    typeof e?.code === 'string' &&
    MESSAGE_STAGE_CODES.has(e.code) &&
    typeof code === 'number' &&
    code >= 500 &&
    code < 600 &&
    !SESSION_REPLIES.has(code) &&
    e.command !== 'MAIL FROM' &&
    !isSenderOrPolicyRefusal(enhancedStatus(e.response)) &&
    !(typeof e.response === 'string' && SENDER_REFUSED.test(e.response)) &&
    !isAccountLimit(enhancedStatus(e.response), e.response) &&
    !namesSender
  );
}

/**
 * Whether `text` names `address` as an address of its own: not inside a longer one (`channelpartners@contoso.com` does
 * not name `partners@contoso.com`, nor does `partners@contoso.com.au`), whatever quotes it (`<...>`, `from=...`, a
 * sentence's full stop after it).
 */
export function namesAddress(text: string, address: string): boolean {
  const escaped = address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?:^|[^A-Za-z0-9._%+'-])${escaped}(?![A-Za-z0-9-]|\\.[A-Za-z0-9])`, 'i').test(text);
}

/** An email address as an SMTP reply quotes it (`<jane@contoso.com>`, `jane@contoso.com:`). */
const ADDRESS = /[^\s<>()[\]\\,;:"'@]+@[^\s<>()[\]\\,;:"'@]+/g;

/**
 * Text for the logs without email addresses: SMTP servers quote the recipient in their refusals ("550 5.1.1
 * <jane@contoso.com>: Recipient address rejected"), and the logs name messages and users by id only. The stored
 * `lastError` and the failure event keep the reply as it is (the event names the recipient anyway).
 */
export function withoutAddresses(text: string): string {
  return text.replace(ADDRESS, '<address>');
}

export function describeSmtpFailure(error: unknown): string {
  const e = error as { code?: string; responseCode?: number; message?: string };
  const parts = [e?.code, e?.responseCode, e?.message ?? String(error)].filter((p) => p !== undefined && p !== '');
  return parts.join(' ').slice(0, 1_000);
}
