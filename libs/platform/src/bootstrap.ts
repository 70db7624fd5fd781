import { KafkaEventServer, Tracing } from '@lib/messaging';
import { INestApplication, Logger, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Logger as PinoLogger } from 'nestjs-pino';
import { CONFIG, ConfigError } from './config/config';
import { checkBodyShape } from './http/body-shape';
import { answerClientErrors } from './http/client-error';
import { noConditionalGet } from './http/conditional-requests';
import { bodyErrorHandler, requireJsonBody } from './http/json-body';
import { documentConventions, documentProblems } from './http/openapi-document';
import { requestClasses } from './http/request-classes';
import { BackgroundWork } from './lifecycle/background-work';
import { correlationMiddleware, turnAuditLogsOff } from './logging/logging';
import { collectProcessMetrics, HttpMetricsMiddleware } from './metrics/metrics';
import type { PlatformConfig } from './platform.module';

export interface CreateOptions {
  /** Tests pass false to keep the output quiet. */
  logs?: boolean;
}

/**
 * Builds a service as a hybrid app (HTTP + the Kafka consumer transport) without listening yet. Used by main.ts
 * and by every test, so tests run the service exactly as it is deployed.
 */
export async function createServiceApp(module: Type<unknown>, options: CreateOptions = {}): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(module, {
    bufferLogs: true,
    abortOnError: false,
    logger: options.logs === false ? false : undefined,
  });
  if (options.logs !== false) app.useLogger(app.get(PinoLogger));
  else turnAuditLogsOff();
  const config = app.get<PlatformConfig>(CONFIG);
  collectProcessMetrics(config.SERVICE_NAME);
  app.use(correlationMiddleware);
  // Before the body parser: answers it gives before routing (malformed JSON 400, 413, 415) are measured too.
  const httpMetrics = new HttpMetricsMiddleware();
  app.use(httpMetrics.use.bind(httpMetrics));
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(noConditionalGet);
  app.use(requireJsonBody);
  // application/json and its +json kinds (SCIM clients send application/scim+json).
  app.useBodyParser('json', { limit: '1mb', type: ['application/json', 'application/*+json'] });
  app.use(checkBodyShape);

  if (config.DOCS_ENABLED) {
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle(`${config.SERVICE_NAME} API`)
        .setDescription(`The ${config.SERVICE_NAME} service of the incentives enrollment platform.`)
        .setVersion('1')
        .addBearerAuth()
        .addApiKey({ type: 'apiKey', name: 'X-Operator-Key', in: 'header' }, 'operator')
        .build(),
    );
    documentProblems(document);
    documentConventions(document, requestClasses(app));
    SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  }

  app.connectMicroservice({ strategy: app.get(KafkaEventServer) }, { inheritAppConfig: true });
  return app;
}

/**
 * How long an idle keep-alive connection is kept: longer than the proxies in front of a service keep theirs to it
 * (ingress-nginx's upstream keepalive and cloud load balancers: 60 s). With Node's 5 s, the service closed connections
 * a proxy was about to reuse, and that request failed with a 502 the service never saw. Shutdown does not wait for
 * them (connectionsDrained).
 */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Per server, what closeService calls as shutdown begins (connectionsDrained), with when to cut what is left. */
const drains = new WeakMap<Server, (cutAfterMs: number) => void>();

/**
 * From shutdown on, every answer closes its connection (`Connection: close`: the client's next request goes to another
 * replica), also one already being handled, and each connection is closed once idle. Without it, a connection whose
 * answer was being written as shutdown began stayed open for the keep-alive time (65 s), and the server's close, which
 * waits for it, ran past SHUTDOWN_TIMEOUT_MS: the service was stopped before its outbox was flushed.
 */
function connectionsDrained(server: Server): void {
  const open = new Set<ServerResponse>();
  let closing = false;
  // Before Express's own listener: an answer it sends at once (a 404) is told too.
  server.prependListener('request', (_request: IncomingMessage, response: ServerResponse) => {
    if (closing) response.shouldKeepAlive = false;
    open.add(response);
    response.once('close', () => {
      open.delete(response);
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
  });
  drains.set(server, (cutAfterMs) => {
    closing = true;
    for (const response of open) if (!response.headersSent) response.shouldKeepAlive = false;
    server.closeIdleConnections();
    // A request still unanswered by then (a client stalled mid-body, a long import) is cut: the server's close waits for
    // every connection, and the outbox flush and the database close come after it, within SHUTDOWN_TIMEOUT_MS.
    setTimeout(() => {
      if (open.size) new Logger('Bootstrap').warn(`shutdown: ${open.size} request(s) still unanswered after ${cutAfterMs} ms; their connections are closed`);
      server.closeAllConnections();
    }, cutAfterMs).unref();
  });
}

/**
 * Starts consuming, then serves HTTP. `stopping`: a shutdown asked for while the start runs (a signal during a long
 * index build): what is left is not started (no consumer joins its group to leave it at once, no port is opened).
 */
export async function startServiceApp(app: INestApplication, port?: number, stopping: () => boolean = () => false): Promise<void> {
  const config = app.get<PlatformConfig>(CONFIG);
  (app as NestExpressApplication).use(bodyErrorHandler);
  await app.init();
  if (stopping()) return;
  await app.startAllMicroservices();
  if (stopping()) return;
  // No HOST: Node's own choice, every address of both families where the machine has IPv6.
  if (config.HOST) await app.listen(port ?? config.PORT, config.HOST);
  else await app.listen(port ?? config.PORT);
  const server = app.getHttpServer() as Server;
  server.keepAliveTimeout = HTTP_KEEP_ALIVE_TIMEOUT_MS;
  // Above it, or a connection reused as the keep-alive time ends could be cut while its headers are read.
  server.headersTimeout = HTTP_KEEP_ALIVE_TIMEOUT_MS + 1_000;
  connectionsDrained(server);
  answerClientErrors(server);
}

/**
 * Closes a service in SPEC 5's order: stop consuming (the messages in flight finish and are committed), then finish
 * in-flight work (modules' destroy hooks: the batch jobs' wait, the email worker's drain), flush the outbox, close the
 * database. Nest's own `app.close()` stops the Kafka transport last, after every destroy hook, so that messages would
 * still be taken, and handlers started, while those wait. main.ts (SIGTERM) and the test harness close through this.
 */
export async function closeService(app: INestApplication): Promise<void> {
  // Batch jobs are told at once (they stop at their next batch boundary, and are waited for in app.close()).
  app.get(BackgroundWork, { strict: false }).requestStop();
  // Half the shutdown's time for the requests in flight; the rest for the flush and the close after the server's.
  drains.get(app.getHttpServer() as Server)?.(Math.floor(app.get<PlatformConfig>(CONFIG).SHUTDOWN_TIMEOUT_MS / 2));
  await app.get(KafkaEventServer).stopConsuming();
  await app.close();
}

/** main.ts of every service: a bad config stops it with one line; SIGTERM drains it within the timeout. */
export async function runService(module: Type<unknown>): Promise<void> {
  const logger = new Logger('Bootstrap');
  // Before the application exists nothing has started (no consumer, no relay, no job, no port): a signal exits at once.
  // Handled from the first moment: node as a container's PID 1 is sent no signal it has no handler for, and creating the
  // application waits for the database (up to about a minute while it is away).
  const exitEarly = (signal: NodeJS.Signals) => {
    // Written directly: the logger holds its lines back until the application exists.
    process.stderr.write(`${signal} while the service was being created: nothing started yet, exiting\n`);
    process.exit(0);
  };
  process.on('SIGTERM', exitEarly);
  process.on('SIGINT', exitEarly);
  let app: NestExpressApplication;
  try {
    app = await createServiceApp(module);
  } catch (error) {
    const cause = error instanceof ConfigError ? error : (error as { cause?: unknown })?.cause;
    if (cause instanceof ConfigError || error instanceof ConfigError) {
      process.stderr.write(`${(cause as Error).message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const config = app.get<PlatformConfig>(CONFIG);
  let stopping = false;
  /** A start that failed while a signal's shutdown ran: that shutdown exits 1. */
  let startFailed = false;
  // Shutdown waits for a start still running (its hooks would otherwise run beside the close's: a relay started after
  // it was stopped, on a connection being closed); a start that failed has nothing to close.
  let started: Promise<unknown> = Promise.resolve();
  process.off('SIGTERM', exitEarly);
  process.off('SIGINT', exitEarly);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    // `on`, not `once`: a second signal during the drain (a repeated Ctrl-C) is ignored, not the default (exit at once).
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.log(`${signal}: stopping consumers, draining, flushing the outbox`);
      const deadline = Date.now() + config.SHUTDOWN_TIMEOUT_MS;
      setTimeout(() => {
        logger.error('graceful shutdown timed out');
        process.exit(1);
      }, config.SHUTDOWN_TIMEOUT_MS).unref();
      // Told at once, also while the start runs: jobs and the email worker starting then do not begin, and their waits
      // count from the signal, within the deadline above.
      app.get(BackgroundWork, { strict: false }).requestStop();
      started.then(() => closeService(app)).then(
        // Last, the spans still buffered, for what is left of the time (a collector that does not answer costs no exit code).
        () => {
          const sent = Tracing.shutdown().catch(() => undefined);
          const timeLeft = new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now() - 500)).unref());
          void Promise.race([sent, timeLeft]).then(() => process.exit(startFailed ? 1 : 0));
        },
        (error) => {
          logger.error(`shutdown failed: ${error}`);
          process.exit(1);
        },
      );
    });
  }
  const starting = startServiceApp(app, undefined, () => stopping);
  started = starting.catch(() => undefined);
  try {
    await starting;
  } catch (error) {
    // A start that failed part way (the port taken, after the consumers joined their groups and the relay started) is
    // closed as a shutdown is, within its time: the consumers leave their groups at once (not after their session
    // timeout, on every restart of a crash loop) and what the relay holds is flushed. Then exit 1.
    logger.error(`${config.SERVICE_NAME} could not start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    startFailed = true;
    if (stopping) return; // a signal's shutdown closes it, and exits 1
    stopping = true;
    const timeout = new Promise((resolve) => setTimeout(resolve, config.SHUTDOWN_TIMEOUT_MS).unref());
    await Promise.race([closeService(app).catch((closing) => logger.error(`closing after the failed start failed: ${closing}`)), timeout]);
    process.exit(1);
  }
  if (!stopping) logger.log(`${config.SERVICE_NAME} listening on ${config.PORT}`);
}
