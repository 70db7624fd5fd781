/**
 * OpenTelemetry on the built services: the five services as processes with an OTLP endpoint set, exporting to a
 * receiver in this test (OTLP/HTTP, JSON), on the run's real Kafka and MongoDB. One request's trace must cross Kafka:
 * the events it writes carry its trace context through the outbox, and every service that handles them continues it.
 */
import { createEnvelope, Topics } from '@lib/contracts';
import { freePort, groupCaughtUp, TestKafka, TopicWatch } from '@lib/testing';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { Client, CURRENT_FY, eventually, registerPartner } from './client';
import { Platform, SERVICES, ServiceName } from './platform';

jest.setTimeout(180_000);

/** A span as the receiver keeps it, with the service that exported it. */
interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, CONSUMER: 5 } as const;

/** An OTLP/HTTP receiver (JSON encoding, as @opentelemetry/exporter-trace-otlp-http sends): keeps every span. */
class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  private server?: Server;
  port = 0;

  async start(): Promise<void> {
    this.port = await freePort();
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (request.url === '/v1/traces') this.keep(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }

  inTrace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId);
  }

  private keep(body: { resourceSpans?: any[] }): void {
    for (const resourceSpans of body.resourceSpans ?? []) {
      const service = String(attributesOf(resourceSpans.resource?.attributes)['service.name']);
      for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
        for (const span of scopeSpans.spans ?? []) {
          this.spans.push({
            service,
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId || undefined,
            name: span.name,
            kind: span.kind,
            attributes: attributesOf(span.attributes),
          });
        }
      }
    }
  }
}

function attributesOf(list: Array<{ key: string; value: Record<string, unknown> }> = []): Record<string, unknown> {
  return Object.fromEntries(list.map(({ key, value }) => [key, Object.values(value)[0]]));
}

const receiver = new OtlpReceiver();
let platform: Platform;
let client: Client;
let kafka: TestKafka;
let watch: TopicWatch;

beforeAll(async () => {
  await receiver.start();
  const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`, OTEL_BSP_SCHEDULE_DELAY: '200' };
  platform = new Platform({ env: Object.fromEntries(SERVICES.map((service) => [service, tracing])) });
  client = new Client(platform);
  await platform.start();
  kafka = new TestKafka();
  watch = await kafka.watch([Topics.notifications]);
}, 300_000);

afterAll(async () => {
  await kafka?.close();
  await platform?.stop();
  await receiver.stop();
});

describe('tracing (OpenTelemetry, OTLP)', () => {
  const traceId = randomBytes(16).toString('hex');
  const callerSpanId = randomBytes(8).toString('hex');
  const CONSUMERS: ServiceName[] = ['invitations', 'enrollment', 'payout-profiles', 'notification'];

  beforeAll(async () => {
    // The operator's tool is the caller: the registration continues its trace.
    await registerPartner(clientWithTrace(), 'Tailspin', [{ locationId: `LOC-T-${traceId.slice(0, 8)}`, country: 'US' }]);
  });

  /** The client, sending a W3C traceparent of the caller's span with every request. */
  function clientWithTrace(): Client {
    const traced = Object.create(client) as Client;
    traced.call = (service, method, path, options = {}) =>
      client.call(service, method, path, { ...options, headers: { ...options.headers, traceparent: `00-${traceId}-${callerSpanId}-01` } });
    return traced;
  }

  it("continues the caller's trace in the request's server span, with its database commands in it", async () => {
    const server = await eventually(async () => {
      const span = receiver.inTrace(traceId).find((s) => s.service === 'identity' && s.kind === KIND.SERVER);
      expect(span).toBeDefined();
      return span!;
    }, 30_000);
    expect(server.parentSpanId).toBe(callerSpanId);
    expect(server.name).toBe('POST /v1/partners');
    expect(server.attributes['http.route']).toBe('/v1/partners');
    const commands = receiver.inTrace(traceId).filter((s) => s.service === 'identity' && s.kind === KIND.CLIENT && s.attributes['db.system.name'] === 'mongodb');
    expect(commands.length).toBeGreaterThan(0);
  });

  it("keeps a list's cursor out of the server span's url.query (the users list's holds an email address)", async () => {
    const listTrace = randomBytes(16).toString('hex');
    const cursor = Buffer.from(JSON.stringify(['users', 'alice@contoso.example'])).toString('base64url');
    await client.call('identity', 'GET', `/v1/users?limit=1&cursor=${cursor}`, { headers: { traceparent: `00-${listTrace}-${callerSpanId}-01` } });
    const server = await eventually(async () => {
      const span = receiver.inTrace(listTrace).find((s) => s.service === 'identity' && s.kind === KIND.SERVER);
      expect(span).toBeDefined();
      return span!;
    }, 30_000);
    expect(String(server.attributes['url.query'])).toMatch(/^limit=1&cursor=REDACTED$/);
    expect(JSON.stringify(server.attributes)).not.toContain(cursor);
  });

  it('continues it across Kafka in every service that handles the events the request wrote', async () => {
    const consumed = await eventually(async () => {
      const spans = receiver.inTrace(traceId).filter((s) => s.kind === KIND.CONSUMER && s.name === 'process identity.events.v1');
      expect([...new Set(spans.map((s) => s.service))].sort()).toEqual([...CONSUMERS].sort());
      return spans;
    }, 60_000);
    const identitySpans = new Set(receiver.inTrace(traceId).filter((s) => s.service === 'identity').map((s) => s.spanId));
    for (const span of consumed) {
      // The span the event was written in, in identity.
      expect(identitySpans.has(span.parentSpanId!)).toBe(true);
      expect(span.attributes).toMatchObject({ 'messaging.system': 'kafka', 'messaging.destination.name': 'identity.events.v1' });
      expect(span.attributes['messaging.message.id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    // The handlers' database work is in the trace too, under their consumer spans.
    const consumerIds = new Set(consumed.map((s) => s.spanId));
    await eventually(async () => {
      const byId = new Map(receiver.inTrace(traceId).map((s) => [s.spanId, s]));
      const underConsumer = (span: ReceivedSpan): boolean => {
        for (let at: ReceivedSpan | undefined = span; at; at = at.parentSpanId ? byId.get(at.parentSpanId) : undefined) {
          if (consumerIds.has(at.spanId)) return true;
        }
        return false;
      };
      const commands = receiver.inTrace(traceId).filter((s) => s.attributes['db.system.name'] === 'mongodb' && underConsumer(s));
      expect([...new Set(commands.map((s) => s.service))].sort()).toEqual([...CONSUMERS].sort());
    }, 30_000);
  });

  it("writes the request's trace and span ids in its log lines", async () => {
    const identitySpans = new Set(receiver.inTrace(traceId).filter((s) => s.service === 'identity').map((s) => s.spanId));
    await eventually(async () => {
      const lines = readFileSync(platform.logFile('identity'), 'utf8')
        .split('\n')
        .filter((line) => line.includes(traceId))
        .map((line) => JSON.parse(line) as { traceId?: string; spanId?: string; req?: { url?: string } });
      expect(lines.some((line) => line.req?.url === '/v1/partners')).toBe(true); // "request completed"
      for (const line of lines) {
        expect(line.traceId).toBe(traceId);
        expect(identitySpans.has(line.spanId!)).toBe(true);
      }
    });
  });

  it('runs a scheduled job as the root of a trace of its own, and leaves probes and scrapes out', async () => {
    // identity finishes pending registrations at every start.
    const job = receiver.spans.find((s) => s.service === 'identity' && s.name === 'partner-registrations-completion');
    expect(job).toBeDefined();
    expect(job!.parentSpanId).toBeUndefined();
    expect(job!.kind).toBe(KIND.INTERNAL);
    // The harness polled /health/ready of every service until it answered; a scrape and a probe more, then a request
    // traced after them: once its span is in, theirs would be too.
    const path = (s: ReceivedSpan) => String(s.attributes['url.path'] ?? s.attributes['http.target'] ?? s.name);
    expect((await fetch(`${platform.url('identity')}/metrics`)).status).toBe(200);
    expect((await fetch(`${platform.url('identity')}/health/live`)).status).toBe(200);
    const after = `/v1/after-the-scrape-${randomBytes(4).toString('hex')}`;
    expect((await fetch(`${platform.url('identity')}${after}`)).status).toBe(404);
    await eventually(async () => expect(receiver.spans.some((s) => s.kind === KIND.SERVER && path(s) === after)).toBe(true));
    expect(receiver.spans.filter((s) => s.kind === KIND.SERVER && /\/(health|metrics)/.test(path(s)))).toEqual([]);
    expect(new Set(receiver.spans.filter((s) => s.kind === KIND.SERVER).map((s) => s.service)).size).toBeGreaterThan(0);
  });

  it("follows an outside system's event to the email it causes: the delivery, and the event telling of it, in its trace", async () => {
    const run = randomBytes(4).toString('hex');
    const [locationId, programId] = [`LOC-E-${run}`, `P-${run}`];
    // A location with no Incentives admin: its eligibility asks the Global admin, by email, to assign one.
    const partner = await registerPartner(client, 'Litware', [{ locationId, country: 'US' }]);
    await client.expect(201, 'enrollment', 'POST', '/v1/programs', {
      operator: true,
      body: {
        programId,
        name: `Azure ${run}`,
        fiscalYear: CURRENT_FY,
        requiresEligibility: true,
        payoutRules: { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: true },
        state: 'OPEN',
      },
    });
    // The partner's and the program's events are on their topics (the answers came first), then handled.
    await platform.relayed('identity');
    await platform.relayed('enrollment');
    await groupCaughtUp(platform.groupFor('invitations', Topics.programs), [Topics.programs, Topics.identity], { timeoutMs: 60_000 });
    await groupCaughtUp(platform.groupFor('notification', Topics.identity), [Topics.identity], { timeoutMs: 60_000 });

    const decisionTrace = randomBytes(16).toString('hex');
    const systemSpanId = randomBytes(8).toString('hex');
    const decision = createEnvelope({
      type: 'EligibilityDetermined',
      source: 'eligibility-system',
      partnerId: partner.partnerId,
      locationId,
      data: { programId, locationId, partnerId: partner.partnerId, fiscalYear: CURRENT_FY, eligible: true, reasons: [] },
    });
    await kafka.publish(Topics.eligibility, locationId, decision, { traceparent: `00-${decisionTrace}-${systemSpanId}-01` });
    await platform.smtp.waitFor(partner.globalAdminEmail, { timeoutMs: 60_000 });

    const spans = await eventually(async () => {
      const inTrace = receiver.inTrace(decisionTrace);
      const one = (service: string, name: string) => {
        const found = inTrace.filter((s) => s.service === service && s.name === name);
        expect(`${service} ${name}: ${found.length}`).toBe(`${service} ${name}: 1`);
        return found[0];
      };
      return {
        decision: one('invitations', 'process eligibility.decisions.v1'),
        enrollmentDecision: one('enrollment', 'process eligibility.decisions.v1'),
        request: one('notification', 'process invitations.events.v1'),
        delivery: one('notification', 'deliver email'),
        inTrace,
      };
    }, 30_000);
    expect(spans.decision.parentSpanId).toBe(systemSpanId);
    expect(spans.enrollmentDecision.parentSpanId).toBe(systemSpanId);
    expect(spans.decision.attributes['messaging.message.id']).toBe(decision.eventId);
    const invitationSpans = new Set(spans.inTrace.filter((s) => s.service === 'invitations').map((s) => s.spanId));
    expect(invitationSpans.has(spans.request.parentSpanId!)).toBe(true);
    expect(spans.request.attributes['event.type']).toBe('AdminAssignmentRequested');
    // The worker's delivery continues the handler that wrote the email, and records how it went.
    expect(spans.delivery.parentSpanId).toBe(spans.request.spanId);
    expect(spans.delivery.attributes).toMatchObject({ 'notification.outcome': 'SENT', 'notification.attempt': 1 });
    // NotificationSent, for the consumers of notifications, is in the trace too: written in the delivery's span.
    const [sent] = await watch.waitFor(
      (m) => m.envelope?.type === 'NotificationSent' && m.envelope.partnerId === partner.partnerId && (m.envelope.data as { channel?: string }).channel === 'EMAIL',
      { timeoutMs: 30_000 },
    );
    expect(sent.headers.traceparent).toBe(`00-${decisionTrace}-${spans.delivery.spanId}-01`);
    // SPEC 3's envelope: the decision's correlation id goes along the whole chain (decision, the invitation's request
    // for an admin, its email), as the trace does.
    expect(decision.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent.envelope!.correlationId).toBe(decision.correlationId);
  });
});
