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
 * `tracing.ts`, which calls startTracing, before anything else. This file imports only OpenTelemetry for that reason,
 * and only those files import it (the SDK stays unloaded in tests). Tracing.shutdown() sends what is left at stop.
 */
import { diag, DiagConsoleLogger, DiagLogLevel } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { ExpressInstrumentation, ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { MongoDBInstrumentation } from '@opentelemetry/instrumentation-mongodb';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** Requests that are not the service's work: probes and scrapes, many a minute. */
const UNTRACED_PATHS = /^\/(health|metrics)(\/|\?|$)/;

/** The SDK once started (once per process). */
let provider: NodeTracerProvider | undefined;

/** Whether the environment asks for traces: an OTLP endpoint is set and the SDK is not disabled. */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return !!(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

/**
 * Starts tracing for `serviceName` when the environment asks for it; otherwise does nothing, and the OpenTelemetry API
 * stays a no-op. SERVICE_NAME, then OTEL_SERVICE_NAME, override the name (the first names the service's logs and
 * metrics too); OTEL_RESOURCE_ATTRIBUTES adds attributes. Sampling follows OTEL_TRACES_SAMPLER (default: parent-based,
 * always on); batching, OTEL_BSP_*.
 */
export function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (provider || !tracingRequested(env)) return !!provider;
  try {
    start(serviceName, env);
    return true;
  } catch (error) {
    // A setting the SDK cannot use: the service's config check names it next, before anything runs untraced.
    process.stderr.write(`tracing not started: ${(error as Error).message}\n`);
    return false;
  }
}

function start(serviceName: string, env: NodeJS.ProcessEnv): void {
  // The SDK's own warnings and errors (a collector that refuses or does not answer) on stderr, not dropped.
  diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: env.SERVICE_NAME?.trim() || serviceName }))
    .merge(detectResources({ detectors: [envDetector] }));
  const sdk = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  sdk.register(); // context in AsyncLocalStorage; W3C trace context and baggage propagation
  provider = sdk;
  registerInstrumentations({
    tracerProvider: sdk,
    instrumentations: [
      new HttpInstrumentation({ ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? '') }),
      // Request handlers only: a span per middleware (body parser, logger, ...) adds nothing a reader needs.
      new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE] }),
      new MongoDBInstrumentation(),
    ],
  });
}
