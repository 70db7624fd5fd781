import { freePort } from './infra/process';
import { AddressObject, ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** Envelope recipients (RCPT TO). */
  to: string[];
  from: string;
  parsed: ParsedMail;
  raw: string;
  /** Date.now() when the server accepted the message (end of DATA, before parsing). */
  receivedAt: number;
}

/** What every accepted message is, before (and without) parsing. */
export interface Arrival {
  to: string[];
  from: string;
  receivedAt: number;
}

/**
 * A real SMTP server for the tests (smtp-server), receiving what the service sends over the wire and parsing it
 * with mailparser. It can refuse recipients for a number of attempts (451, as a greylisting or busy server does)
 * and can be stopped and started again on the same port to play a server that is down.
 */
export class SmtpTestServer {
  readonly received: ReceivedMail[] = [];
  /** Called for every accepted message as it arrives (benchmarks correlate arrivals without parsing). */
  readonly arrivals: Array<(arrival: Arrival) => void> = [];
  /** RCPT TO attempts per address, refused ones included. */
  readonly attempts = new Map<string, number>();
  /** When each of those attempts came (ms since the epoch), per address. */
  readonly attemptTimes = new Map<string, number[]>();
  private readonly refusals = new Map<string, number>();
  private server?: SMTPServer;
  private waiters: Array<() => void> = [];
  port = 0;
  /** `parse: false` keeps nothing in `received` (no parsing cost): only `arrivals` listeners see the mail. */
  constructor(private readonly options: { parse?: boolean } = {}) {}

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onRcptTo: (address, _session, callback) => {
        const email = address.address.toLowerCase();
        this.attempts.set(email, (this.attempts.get(email) ?? 0) + 1);
        this.attemptTimes.set(email, [...(this.attemptTimes.get(email) ?? []), Date.now()]);
        const left = this.refusals.get(email) ?? 0;
        if (left > 0) {
          this.refusals.set(email, left - 1);
          const error = Object.assign(new Error('Mailbox busy, try again later'), { responseCode: 451 });
          return callback(error);
        }
        callback();
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => this.options.parse !== false && chunks.push(chunk));
        stream.on('end', () => {
          const receivedAt = Date.now();
          const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          this.arrivals.forEach((listener) => listener({ to, from, receivedAt }));
          if (this.options.parse === false) return callback();
          const raw = Buffer.concat(chunks).toString('utf8');
          simpleParser(raw)
            .then((parsed) => {
              this.received.push({ to, from, parsed, raw, receivedAt });
              this.waiters.forEach((w) => w());
              callback();
            })
            .catch((error: Error) => callback(error));
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    return this;
  }

  /** Closes the port: connections are refused until `start()` again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Answers 451 to the next `times` attempts to deliver to this address (Infinity: always). */
  refuse(address: string, times: number): void {
    this.refusals.set(address.toLowerCase(), times);
  }

  to(address: string): ReceivedMail[] {
    return this.received.filter((m) => m.to.includes(address.toLowerCase()));
  }

  /** Waits until `count` mails were received for the address, and returns them. */
  async waitFor(address: string, { count = 1, timeoutMs = 30_000 } = {}): Promise<ReceivedMail[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.to(address);
      if (found.length >= count) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Expected ${count} mail(s) to ${address}, received ${found.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.waiters = [];
    }
  }
}

export function addresses(field: AddressObject | AddressObject[] | undefined): Array<{ name: string; address?: string }> {
  if (!field) return [];
  return (Array.isArray(field) ? field : [field]).flatMap((f) => f.value);
}
