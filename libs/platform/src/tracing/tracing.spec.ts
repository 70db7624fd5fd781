import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { DuplicateKeyValuesRemoved, tracingRequested } from './tracing';

describe('tracingRequested: tracing is on only where an OTLP endpoint is configured', () => {
  it.each([
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: ' TRUE ' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: '1' }, false], // as the config reads flags
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'false' }, true],
  ])('%j: %s', (env, expected) => {
    expect(tracingRequested(env as NodeJS.ProcessEnv)).toBe(expected);
  });
});

describe('DuplicateKeyValuesRemoved: a failed command span keeps no key values', () => {
  it("removes a duplicate key error's values from the span status and leaves other errors as they are", () => {
    const exporter = new InMemorySpanExporter();
    const provider = new NodeTracerProvider({ spanProcessors: [new DuplicateKeyValuesRemoved(), new SimpleSpanProcessor(exporter)] });
    const tracer = provider.getTracer('test');
    const duplicate = tracer.startSpan('insert users');
    duplicate.setStatus({
      code: SpanStatusCode.ERROR,
      message: 'E11000 duplicate key error collection: identity.users index: partnerId_1_emailKey_1 dup key: { partnerId: "P-1", emailKey: "alice@contoso.example" }',
    });
    duplicate.end();
    const other = tracer.startSpan('find users');
    other.setStatus({ code: SpanStatusCode.ERROR, message: 'connection 3 to 127.0.0.1:27017 closed' });
    other.end();
    expect(exporter.getFinishedSpans().map((span) => span.status)).toEqual([
      { code: SpanStatusCode.ERROR, message: 'E11000 duplicate key error collection: identity.users index: partnerId_1_emailKey_1 dup key: (values removed)' },
      { code: SpanStatusCode.ERROR, message: 'connection 3 to 127.0.0.1:27017 closed' },
    ]);
  });
});
