import { Attributes, Context, context, propagation, ProxyTracerProvider, ROOT_CONTEXT, Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Envelope } from '@lib/contracts';
import type { IHeaders, KafkaMessage } from 'kafkajs';

/**
 * OpenTelemetry across the outbox: the trace an event was written in travels with it, and the consumer's work is a
 * span of that trace. The outbox stores the W3C trace context of the write (`traceparent`, `tracestate`); the relay
 * sends it as Kafka headers; the consumer continues the trace from them. Only the API is used here: without a tracer
 * provider (tracing off, the default; startTracing in libs/platform turns it on) nothing is stored and no span is made.
 */
export const Tracing = {
  /** Whether trace context is propagated: a propagator was registered (startTracing), which makes it on. */
  get enabled(): boolean {
    return propagation.fields().length > 0;
  },

  /**
   * The current trace context, to store with an event written now (empty without one): the W3C trace context only, not
   * the baggage a caller may have sent along (arbitrary data nobody reads from the outbox).
   */
  currentContext(): TraceHeaders {
    if (!this.enabled) return {};
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    const { traceparent, tracestate } = carrier;
    return traceparent ? (tracestate ? { traceparent, tracestate } : { traceparent }) : {};
  },

  /**
   * Runs `fn` in no trace: background work (the outbox relay's drain, the email worker's claims) that a request or
   * handler only woke up, so that its spans do not pile up under whichever caller woke it first.
   */
  detached<T>(fn: () => T): T {
    return this.enabled ? context.with(ROOT_CONTEXT, fn) : fn();
  },

  /**
   * Runs the work caused by a consumed message in a consumer span of the trace its headers carry (a new trace when
   * they carry none). Without tracing, runs it as is.
   */
  consume<T>(topic: string, partition: number, message: KafkaMessage, envelope: Envelope | undefined, fn: (span?: Span) => Promise<T>): Promise<T> {
    if (!this.enabled) return fn();
    const attributes: Attributes = {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.destination.name': topic,
      'messaging.destination.partition.id': String(partition),
      'messaging.kafka.offset': Number(message.offset),
      ...(message.key && { 'messaging.kafka.message.key': message.key.toString() }),
      ...(envelope && { 'messaging.message.id': envelope.eventId, 'event.type': envelope.type }),
    };
    return childSpan(headerValues(message.headers), `process ${topic}`, SpanKind.CONSUMER, attributes, fn);
  },

  /**
   * Runs work done later for something written earlier (an email sent by a worker, from the message a handler stored
   * with `currentContext()`) in a span of the trace it was written in (a new trace when `written` holds none).
   */
  resume<T>(written: TraceHeaders, name: string, attributes: Attributes, fn: (span?: Span) => Promise<T>): Promise<T> {
    if (!this.enabled) return fn();
    return childSpan({ traceparent: written.traceparent, tracestate: written.tracestate }, name, SpanKind.INTERNAL, attributes, fn);
  },

  /** Marks a span as failed (a message dead-lettered: its handler did not throw to the span). */
  failed(span: Span | undefined, error: unknown): void {
    if (!span) return;
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  },

  /** Runs work nobody asked for (a scheduled job) as the root span of a trace of its own. */
  root<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (!this.enabled) return fn();
    const span = tracer().startSpan(name, { root: true, kind: SpanKind.INTERNAL });
    return inSpan(span, trace.setSpan(context.active(), span), fn);
  },

  /** The trace and span of the work being done now, for log lines (empty when tracing is off or nothing is traced). */
  activeIds(): { traceId?: string; spanId?: string } {
    const span = trace.getActiveSpan();
    if (!span?.isRecording()) return {};
    const { traceId, spanId } = span.spanContext();
    return { traceId, spanId };
  },

  /** Sends the spans still buffered and stops the SDK (graceful shutdown); nothing when tracing is off. */
  async shutdown(): Promise<void> {
    const provider = trace.getTracerProvider();
    const sdk = (provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider) as { shutdown?: () => Promise<void> };
    await sdk.shutdown?.();
  },
};

/** The W3C trace context fields an outbox entry keeps. */
export interface TraceHeaders {
  traceparent?: string;
  tracestate?: string;
}

const tracer = () => trace.getTracer('@lib/messaging');

/** Runs `fn` in a new span, child of the span the W3C fields in `carrier` name (a new trace when they name none). */
function childSpan<T>(carrier: Record<string, string | undefined>, name: string, kind: SpanKind, attributes: Attributes, fn: (span?: Span) => Promise<T>): Promise<T> {
  const parent = propagation.extract(ROOT_CONTEXT, carrier);
  const span = tracer().startSpan(name, { kind, attributes }, parent);
  return inSpan(span, trace.setSpan(parent, span), () => fn(span));
}

/** Runs `fn` with `span` active, ending it with the outcome. */
async function inSpan<T>(span: Span, active: Context, fn: () => Promise<T>): Promise<T> {
  try {
    return await context.with(active, fn);
  } catch (error) {
    Tracing.failed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Kafka header values as the propagator reads them: strings (a header may be a Buffer, repeated, or null: Kafka allows one). */
function headerValues(headers: IHeaders | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined && first !== null) values[name] = first.toString();
  }
  return values;
}
