import { Envelope, Topics } from '@lib/contracts';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { KafkaMessage } from 'kafkajs';
import { storage as requestLogs, Store } from 'nestjs-pino/storage';
import pino from 'pino';
import { Trace } from './context';
import { outboxEvent } from './outbox';
import { recordBytes } from './outbox-relay';
import { Tracing } from './tracing';

/** A consumed Kafka message without key or headers. */
const message = (offset: string, fields: Partial<KafkaMessage> = {}): KafkaMessage => ({ key: null, value: null, timestamp: '0', attributes: 0, offset, headers: {}, ...fields }) as KafkaMessage;

const event = () =>
  outboxEvent('enrollment', Topics.programs, {
    type: 'ProgramCreated',
    key: 'P-1',
    data: {
      program: {
        programId: 'P-1',
        name: 'Azure',
        fiscalYear: 'FY27',
        requiresEligibility: false,
        payoutRules: { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: false },
        state: 'OPEN',
        revision: 1,
      },
    },
  });

describe('Tracing, while no tracer provider is registered (tracing off, the default)', () => {
  it('stores no trace context with an event and runs consumers and jobs as they are', async () => {
    expect(Tracing.enabled).toBe(false);
    const entry = event();
    expect(entry).not.toHaveProperty('traceparent');
    await expect(Tracing.consume('t', 0, message('1'), undefined, async (span) => span)).resolves.toBeUndefined();
    await expect(Tracing.root('job', async () => trace.getActiveSpan())).resolves.toBeUndefined();
    expect(Tracing.activeIds()).toEqual({});
  });
});

describe('Tracing, with a tracer provider (an in-memory exporter: a pure unit test of the propagation)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = () => trace.getTracer('test');

  beforeAll(() => provider.register());
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });
  beforeEach(() => exporter.reset());

  it('stores the trace context an event is written in with it, and counts it in the record size', () => {
    const span = tracer().startSpan('request');
    const entry = context.with(trace.setSpan(context.active(), span), event);
    span.end();
    const { traceId, spanId } = span.spanContext();
    expect(entry.traceparent).toBe(`00-${traceId}-${spanId}-01`);
    const { traceparent: _, ...untraced } = entry;
    expect(recordBytes(entry) - recordBytes(untraced)).toBe('traceparent'.length + entry.traceparent!.length);
    // Outside any span, nothing.
    expect(event()).not.toHaveProperty('traceparent');
  });

  it('handles a consumed message in a consumer span, child of the span its headers name', async () => {
    const parent = tracer().startSpan('written');
    const headers = { traceparent: Buffer.from(`00-${parent.spanContext().traceId}-${parent.spanContext().spanId}-01`) };
    const seen = await Tracing.consume(
      'identity.events.v1',
      3,
      message('42', { key: Buffer.from('LOC-1'), headers }),
      { eventId: 'e-1', type: 'UserCreated' } as Envelope,
      async () => ({ active: trace.getActiveSpan()?.spanContext().spanId, ids: Tracing.activeIds() }),
    );
    const [span] = exporter.getFinishedSpans();
    expect(span.name).toBe('process identity.events.v1');
    expect(span.kind).toBe(SpanKind.CONSUMER);
    expect(span.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(span.attributes).toMatchObject({
      'messaging.system': 'kafka',
      'messaging.destination.name': 'identity.events.v1',
      'messaging.destination.partition.id': '3',
      'messaging.kafka.offset': 42,
      'messaging.kafka.message.key': 'LOC-1',
      'messaging.message.id': 'e-1',
      'event.type': 'UserCreated',
    });
    // The handler runs with the consumer span active: its database calls and the events it writes are under it.
    expect(seen.active).toBe(span.spanContext().spanId);
    expect(seen.ids).toEqual({ traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
  });

  it('reads past a header whose value is null (Kafka allows one) and handles the message', async () => {
    const parent = tracer().startSpan('written');
    const headers = { empty: null, traceparent: Buffer.from(`00-${parent.spanContext().traceId}-${parent.spanContext().spanId}-01`) } as never;
    const handled = await Tracing.consume('t', 0, message('5', { headers }), undefined, async () => 'handled');
    expect(handled).toBe('handled');
    const span = exporter.getFinishedSpans().find((s) => s.name === 'process t')!;
    expect(span.spanContext().traceId).toBe(parent.spanContext().traceId);
  });

  it('starts a trace of its own for a message without trace headers, also when some other span is active', async () => {
    const other = tracer().startSpan('a request that happened to wake the consumer');
    await context.with(trace.setSpan(context.active(), other), () => Tracing.consume('t', 0, message('1'), undefined, async () => undefined));
    other.end();
    const span = exporter.getFinishedSpans().find((s) => s.name === 'process t')!;
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.spanContext().traceId).not.toBe(other.spanContext().traceId);
  });

  it("stores the W3C trace context with an event, not the baggage a caller sent along", () => {
    const span = tracer().startSpan('request');
    const withBaggage = propagation.setBaggage(trace.setSpan(context.active(), span), propagation.createBaggage({ note: { value: 'x'.repeat(1_000) } }));
    const entry = context.with(withBaggage, event);
    span.end();
    expect(Object.keys(entry)).toEqual(['eventId', 'topic', 'key', 'value', 'createdAt', 'traceparent']);
  });

  it('runs background work a caller woke in no trace, and with no correlation ids of the caller', async () => {
    const request = tracer().startSpan('request');
    const seen = await Trace.run({ correlationId: 'c-1', causationId: 'r-1' }, () =>
      context.with(trace.setSpan(context.active(), request), () =>
        Trace.detached(async () => ({ span: trace.getActiveSpan(), trace: Trace.current(), traceparent: event().traceparent })),
      ),
    );
    request.end();
    expect(seen).toEqual({ span: undefined, trace: undefined, traceparent: undefined });
  });

  it("runs what the work chains on itself outside the caller's trace and HTTP request log binding too", async () => {
    const seen = await requestLogs.run(new Store(pino({ enabled: false })), () =>
      Trace.run({ correlationId: 'c-2', causationId: 'r-2' }, () =>
        Trace.detached(() => Promise.resolve().then(() => ({ trace: Trace.current(), requestLog: requestLogs.getStore() }))),
      ),
    );
    expect(seen).toEqual({ trace: undefined, requestLog: undefined });
  });

  it('marks the span failed when the handler throws, or the message is dead-lettered', async () => {
    await expect(Tracing.consume('t', 0, message('1'), undefined, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await Tracing.consume('t', 0, message('2'), undefined, async (span) => Tracing.failed(span, new Error('malformed')));
    expect(exporter.getFinishedSpans().map((span) => [span.status.code, span.status.message, span.events[0]?.name])).toEqual([
      [SpanStatusCode.ERROR, 'boom', 'exception'],
      [SpanStatusCode.ERROR, 'malformed', 'exception'],
    ]);
  });

  it('runs a scheduled job as the root span of a trace of its own, with a correlation id of its own', async () => {
    const request = tracer().startSpan('request');
    const inJob = await context.with(trace.setSpan(context.active(), request), () =>
      Trace.job('fiscal-year-rollover', async () => ({ trace: Trace.current(), traceparent: event().traceparent })),
    );
    request.end();
    const job = exporter.getFinishedSpans().find((span) => span.name === 'fiscal-year-rollover')!;
    expect(job.parentSpanContext).toBeUndefined();
    expect(job.spanContext().traceId).not.toBe(request.spanContext().traceId);
    expect(inJob.traceparent).toBe(`00-${job.spanContext().traceId}-${job.spanContext().spanId}-01`);
    expect(inJob.trace!.correlationId).toBe(inJob.trace!.causationId);
  });
});
