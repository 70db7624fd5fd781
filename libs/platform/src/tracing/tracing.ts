/**
 * OpenTelemetry tracing, off unless an OTLP endpoint is configured (the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT
 * or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_SDK_DISABLED=true turns it off). When on, a service exports over OTLP/HTTP:
 *  - a server span per HTTP request, named by its route, with the Express handler in it (instrumentation-http, -express);
 *  - a client span per MongoDB command (instrumentation-mongodb);
 *  - a consumer span per Kafka message handled, in the trace the event was written in: the outbox keeps the W3C trace
 *    context of the write and the relay sends it as headers (Tracing, in libs/messaging);
 *  - a span per email delivery, in the trace of the handler that wrote the email (notification);
 *  - a root span per scheduled job run.
 * The instrumentations patch http, express and mongodb when they are loaded, so a service's main.ts imports its
 * `tracing.ts`, which calls startTracing, before anything else. This file loads the SDK only when tracing is on, and
 * nothing that would load http, express or mongodb. Tracing.shutdown() (libs/messaging) sends what is left at stop.
 */
import type { Span, SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { flagValue } from '../config/flag-words';
import { shapeOf } from '../database/shape';
import { REDACTED_QUERY_PARAMS } from '../logging/redaction';

/** Requests that are not the service's work: probes and scrapes, many a minute. */
const UNTRACED_PATHS = /^\/(health|metrics)(\/|\?|$)/;
/** The longest attribute value a span keeps (the SDK keeps any length by default). */
const ATTRIBUTE_VALUE_LIMIT = 4_096;

/** The query parameters the http instrumentation redacts by default (its DEFAULT_QUERY_STRINGS_TO_REDACT, not exported). */
const SIGNATURE_QUERY_PARAMS = ['sig', 'Signature', 'AWSAccessKeyId', 'X-Goog-Signature', 'X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Security-Token'];

/** Whether tracing has started in this process (once per process). */
let started = false;

/** Whether the environment asks for traces: an OTLP endpoint is set and the SDK is not disabled. */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (flagValue(env.OTEL_SDK_DISABLED ?? '') === true) return false; // read as the config reads flags
  return !!(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

/**
 * Starts tracing for `serviceName` when the environment asks for it; otherwise does nothing (the SDK is not even
 * loaded), and the OpenTelemetry API stays a no-op. SERVICE_NAME, then OTEL_SERVICE_NAME, override the name (the first
 * names the service's logs and metrics too); OTEL_RESOURCE_ATTRIBUTES adds attributes. Sampling follows
 * OTEL_TRACES_SAMPLER (default: parent-based, always on); batching, OTEL_BSP_*.
 */
export function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (started || !tracingRequested(env)) return started;
  try {
    start(serviceName, env);
    started = true;
  } catch (error) {
    // A setting the SDK cannot use: the service's config check names it next, before anything runs untraced.
    process.stderr.write(`tracing not started: ${(error as Error).message}\n`);
  }
  return started;
}

/** Loads the SDK (only now: tracing is on) and starts it. */
function start(serviceName: string, env: NodeJS.ProcessEnv): void {
  const { diag, DiagConsoleLogger, DiagLogLevel } = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
  const { registerInstrumentations } = require('@opentelemetry/instrumentation') as typeof import('@opentelemetry/instrumentation');
  const { ExpressInstrumentation, ExpressLayerType } = require('@opentelemetry/instrumentation-express') as typeof import('@opentelemetry/instrumentation-express');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const { MongoDBInstrumentation } = require('@opentelemetry/instrumentation-mongodb') as typeof import('@opentelemetry/instrumentation-mongodb');
  const { defaultResource, detectResources, envDetector, resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const { BatchSpanProcessor, NodeTracerProvider } = require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');
  const { ATTR_SERVICE_NAME } = require('@opentelemetry/semantic-conventions') as typeof import('@opentelemetry/semantic-conventions');

  // The SDK's own warnings and errors (a collector that refuses or does not answer) on stderr, not dropped.
  diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: env.SERVICE_NAME?.trim() || serviceName }))
    .merge(detectResources({ detectors: [envDetector] }));
  const sdk = new NodeTracerProvider({
    resource,
    spanLimits: { attributeValueLengthLimit: ATTRIBUTE_VALUE_LIMIT },
    spanProcessors: [new DuplicateKeyValuesRemoved(), new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  sdk.register(); // context in AsyncLocalStorage; W3C trace context and baggage propagation
  registerInstrumentations({
    tracerProvider: sdk,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? ''),
        // A span's url.query keeps no cursor (loggedUrl), nor the signatures the instrumentation redacts by default.
        redactedQueryParamsServer: [...REDACTED_QUERY_PARAMS, ...SIGNATURE_QUERY_PARAMS],
      }),
      // Request handlers only: a span per middleware (body parser, logger, ...) adds nothing a reader needs.
      new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE] }),
      // The command's shape, not its values, whatever its size (a bulk write of 200 documents).
      new MongoDBInstrumentation({ dbStatementSerializer: (command) => JSON.stringify(shapeOf(command)) }),
    ],
  });
}

/**
 * `text` without the values a MongoDB duplicate key error quotes (`dup key: { emailKey: "alice@..." }`: a user's email
 * address, in `users`): only the collection and the index stay. Line by line, so that a stack after it stays.
 */
export function withoutDuplicateKeyValues(text: string): string {
  return text.includes('dup key') ? text.replace(/dup key:[^\n]*/g, 'dup key: (values removed)') : text;
}

/** The MongoDB instrumentation puts a failed command's error message in its span's status: withoutDuplicateKeyValues. */
export class DuplicateKeyValuesRemoved implements SpanProcessor {
  onStart(): void {}
  onEnding(span: Span): void {
    const message = span.status.message;
    if (message?.includes('dup key')) span.setStatus({ code: span.status.code, message: withoutDuplicateKeyValues(message) });
  }
  onEnd(): void {}
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
