import { KafkaEventServer, Tracing } from '@lib/messaging';
import { HttpStatus, INestApplication, Logger, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { getMetadataStorage } from 'class-validator';
import { targetConstructorToSchema, validationMetadatasToSchemas } from 'class-validator-jsonschema';
import type { NextFunction, Request, Response } from 'express';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AsyncResource } from 'node:async_hooks';
import { Logger as PinoLogger } from 'nestjs-pino';
import { CONFIG, ConfigError } from './config/config';
import { checkBodyShape } from './http/body-shape';
import { answerClientErrors } from './http/client-error';
import { isDocumentationOnly } from './http/documentation-only';
import { PROBLEM_CONTENT_TYPE, ProblemException, Problems } from './http/problem';
import { requestClasses } from './http/request-classes';
import { ProblemFilter } from './http/problem.filter';
import { BackgroundWork } from './lifecycle/background-work';
import { correlationMiddleware, turnAuditLogsOff } from './logging/logging';
import { collectProcessMetrics, HttpMetricsMiddleware } from './metrics/metrics';
import type { PlatformConfig } from './platform.module';
import { scopedKeys } from './auth/principal';

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

const PROBLEM_SCHEMAS = {
  FieldProblem: {
    type: 'object',
    required: ['field', 'message'],
    properties: { field: { type: 'string', example: 'locations.0.locationId' }, message: { type: 'string' } },
  },
  ProblemDetails: {
    type: 'object',
    description: 'RFC 9457 problem details; some problems add members (e.g. currentVersion on 412)',
    required: ['type', 'title', 'status'],
    properties: {
      type: { type: 'string', example: 'https://incentives.partner.example/problems/validation-error' },
      title: { type: 'string' },
      status: { type: 'integer', example: 400 },
      detail: { type: 'string' },
      instance: { type: 'string', example: '/v1/enrollments' },
      errors: { type: 'array', items: { $ref: '#/components/schemas/FieldProblem' }, description: 'The invalid fields (400)' },
    },
    additionalProperties: true,
  },
};

/**
 * Every error answer is application/problem+json: the `default` response of each operation says so, and the error
 * responses an endpoint declares (409, 412, ...) get the same body. 400, (behind a bearer token or the operator
 * credential) 401, (behind a bearer token) 403 and (a path naming a resource) 404 are declared for every operation unless
 * it declares its own, and 503 (a dependency not answering) for every one, after what it declares of its own; If-Match
 * adds 412 and, when required, 428 (IfMatch, OptionalIfMatch).
 */
export function documentProblems(document: OpenAPIObject): void {
  document.components = { ...document.components, schemas: { ...document.components?.schemas, ...PROBLEM_SCHEMAS } };
  const body = { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/ProblemDetails' } } };
  for (const [path, item] of Object.entries(document.paths)) {
    for (const operation of [item.get, item.post, item.put, item.patch, item.delete]) {
      if (!operation) continue;
      // What every operation may answer, each declared unless the endpoint says more: 400 (a bad field, in the query
      // string too, which is checked everywhere), behind a bearer token or the operator credential 401, and 404 where
      // the path names a resource (none by that id, or another partner's, which reads as none).
      const bearer = (operation.security ?? []).some((requirement) => 'bearer' in requirement);
      const operator = (operation.security ?? []).some((requirement) => 'operator' in requirement);
      const refusedKeys = scopedKeys()
        .filter((key) => !(operation.security ?? []).some((requirement) => key.name in requirement))
        .map((key) => `the ${key.name} credential (${key.header})`);
      const unauthorized = bearer
        ? 'No bearer token, or one that is not valid (expired, another issuer or audience)'
        : 'No operator credential (X-Operator-Key), or not the right one (WWW-Authenticate names what to send)';
      // Any route may meet its database or broker not answering (ProblemFilter), and one behind a token the issuer's
      // keys unreadable (AuthGuard): said with what the route declares of its own.
      const unavailable =
        '`dependency-unavailable`: the database or the broker is not answering' +
        (bearer ? "; `issuer-keys-unavailable`: the keys that verify the token cannot be read now" : '') +
        ' (retry after Retry-After)';
      const declared503 = operation.responses?.['503'];
      const serviceUnavailable = {
        '503': declared503 && 'description' in declared503 ? { ...declared503, description: `${declared503.description}; or ${unavailable}` } : { description: unavailable },
      };
      operation.responses = {
        '400': { description: 'Invalid input: problem+json with the invalid fields in `errors`' },
        ...((bearer || operator) && { '401': { description: unauthorized } }),
        // Behind a token: the caller's user unknown to the service (identity's events not read yet) or deactivated, or
        // holding no role that allows this.
        ...(bearer && { '403': { description: 'Not allowed: the signed-in user is unknown here or deactivated, or holds no role that allows this' } }),
        // Behind the operator credential: a scoped credential of the service (X-Validator-Key) this operation does not take.
        ...(operator && !bearer && refusedKeys.length && { '403': { description: `Not allowed: ${refusedKeys.join(', ')}, which this operation does not take` } }),
        ...(path.includes('{') && { '404': { description: 'Nothing the caller may see by that id: none, or another partner\'s' } }),
        ...operation.responses,
        ...serviceUnavailable,
      };
      for (const [code, response] of Object.entries(operation.responses ?? {})) {
        if (/^[45]\d\d$/.test(code) && response && 'description' in response && !response.content) response.content = body;
      }
      operation.responses = { ...operation.responses, default: { description: 'An error, as application/problem+json', content: body } };
    }
  }
}

type SchemaNode = {
  type?: string;
  maxLength?: number;
  minLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  enum?: unknown[];
  nullable?: boolean;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  $ref?: string;
  allOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  additionalProperties?: boolean | SchemaNode;
};

/** The JSON Schema keywords of what class-validator checks that a generated client's validator can check too. */
const CHECKED_KEYWORDS = ['maxLength', 'minLength', 'pattern', 'minItems', 'maxItems', 'minimum', 'maximum'] as const;

/**
 * What the DTOs' class-validator rules check (MaxLength of Text(), ArrayMinSize / ArrayMaxSize, Matches on each entry,
 * ...), written into the schemas of the classes that hold them where the declaration (ApiProperty) says nothing of it:
 * a client generated from the document then refuses what the server would answer 400 to. The routes' own classes
 * (`requestClasses`) with the rules they inherit (PartialType's copies); the classes they nest, by name: a schema whose
 * name two classes share (the rules of both merged, with properties it does not have) is left as declared.
 */
function documentValidation(schemas: Record<string, SchemaNode>, requestClasses: Array<Type<unknown>>): void {
  const options = { classValidatorMetadataStorage: getMetadataStorage() };
  const checked = validationMetadatasToSchemas(options) as Record<string, SchemaNode>;
  for (const type of requestClasses) checked[type.name] = targetConstructorToSchema(type, options) as SchemaNode;
  for (const [name, schema] of Object.entries(schemas)) {
    const rules = checked[name]?.properties;
    if (!rules || !schema.properties || Object.keys(rules).some((property) => !(property in schema.properties!))) continue;
    for (const [property, rule] of Object.entries(rules)) {
      const declared = schema.properties[property];
      copyChecks(rule, declared);
      if (declared && !declared.$ref && !declared.allOf) copyChecks(rule.items, declared.items);
    }
  }
}

/** The CHECKED_KEYWORDS of `rule` onto `declared` where it says nothing of them (not onto a reference: another schema's). */
function copyChecks(rule: SchemaNode | undefined, declared: SchemaNode | undefined): void {
  if (!rule || !declared || declared.$ref || declared.allOf) return;
  for (const keyword of CHECKED_KEYWORDS) if (rule[keyword] !== undefined && declared[keyword] === undefined) (declared as Record<string, unknown>)[keyword] = rule[keyword];
}

/**
 * The names of the component schemas these schemas name, directly or through the schemas they name: every `$ref` in
 * them, wherever it sits (properties, items, allOf/oneOf/anyOf, not, additionalProperties...).
 */
export function schemasReached(schemas: Record<string, SchemaNode>, from: Array<SchemaNode | undefined>): Set<string> {
  const reached = new Set<string>();
  const reach = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const ref = (node as SchemaNode).$ref;
    const name = typeof ref === 'string' ? ref.split('/').pop() : undefined;
    if (name !== undefined && !reached.has(name)) {
      reached.add(name);
      reach(schemas[name]);
    }
    Object.values(node).forEach(reach);
  };
  from.forEach(reach);
  return reached;
}

const header = (description: string, type = 'string') => ({ description, schema: { type } });

/**
 * What the platform's conventions add to every service's document, which the decorators do not say:
 *  - every number these APIs send or take is whole (versions, revisions, counts, sizes, limits): `integer`, so that a
 *    generated client does not format a version it sends back in If-Match as `3.0`;
 *  - an enum that may be null lists null (OpenAPI 3.0: `nullable` alone does not let an enum take it);
 *  - an instant in an answer (a string field named `...At`) is a `date-time`;
 *  - the headers answers carry: `Location` on a 201; `ETag` (the version, or the revision) on a 2xx whose body is one
 *    resource with it; `Retry-After` on a 409 and a 503 (a busy resource, a key in use, a service behind);
 *  - on an operation taking Idempotency-Key, the 409 of a retry while the first is still running and the 422 of a key
 *    sent with another request.
 */
export function documentConventions(document: OpenAPIObject, requestClasses: Array<Type<unknown>> = []): void {
  // The scoped credentials operator routes also take (OperatorOnly({ alsoKey })), each a scheme of its own.
  for (const key of scopedKeys()) {
    document.components = {
      ...document.components,
      securitySchemes: {
        ...document.components?.securitySchemes,
        [key.name]: { type: 'apiKey', in: 'header', name: key.header, description: `The ${key.name} credential (${key.setting}), accepted instead of X-Operator-Key where declared` },
      },
    };
  }
  const schemas = (document.components?.schemas ?? {}) as Record<string, SchemaNode>;
  documentValidation(schemas, requestClasses);
  const visit = (node: SchemaNode | undefined): void => {
    if (!node || typeof node !== 'object') return;
    if (node.type === 'number') node.type = 'integer';
    if (node.nullable && Array.isArray(node.enum) && !node.enum.includes(null)) node.enum = [...node.enum, null];
    Object.values(node.properties ?? {}).forEach(visit);
    visit(node.items);
    (node.allOf ?? []).forEach(visit);
  };
  Object.values(schemas).forEach(visit);
  const refOf = (node: SchemaNode | undefined) => (node?.$ref ?? (node?.allOf?.length === 1 ? node.allOf[0].$ref : undefined))?.split('/').pop();
  type Responses = Record<string, { description: string; headers?: Record<string, unknown>; content?: Record<string, { schema?: SchemaNode }> }>;
  const operations = Object.values(document.paths).flatMap((item) => [item.get, item.post, item.put, item.patch, item.delete].filter((o) => o !== undefined));
  type Operation = (typeof operations)[number];
  const takes = (o: Operation | undefined, name: string) => (o?.parameters ?? []).some((p) => 'name' in p && p.name === name);
  const bodyOf = (response: Responses[string] | undefined) => refOf(response?.content?.['application/json']?.schema);
  // The resources with a version a client sends back: what the operations taking If-Match answer. Their answers carry
  // the version as ETag (setETag); other bodies with a version (an invitation, a back-office view) do not.
  const versioned = new Set(
    operations
      .filter((o) => takes(o, 'If-Match'))
      .flatMap((o) => Object.entries(o.responses as Responses).filter(([code]) => /^2\d\d$/.test(code)).map(([, response]) => bodyOf(response)))
      .filter((name): name is string => name !== undefined),
  );
  // Instants in answers (`submittedAt`, `fiscalYearEndsAt`...: ISO 8601 from Date) are date-times. Not in what requests
  // send (an expiry may be sent as a date alone): only schemas no request body reaches.
  const inRequests = schemasReached(
    schemas,
    operations.flatMap((operation) => Object.values(operation.requestBody && 'content' in operation.requestBody ? operation.requestBody.content : {}).map((media) => media.schema as SchemaNode)),
  );
  const inAnswers = schemasReached(
    schemas,
    operations.flatMap((operation) => Object.values(operation.responses as Responses).flatMap((response) => Object.values(response?.content ?? {}).map((media) => media.schema))),
  );
  for (const [name, schema] of Object.entries(schemas)) {
    if (inRequests.has(name)) {
      // What only requests send is closed, as the server refuses a field it does not know (SPEC 4): a client or a
      // validator generated from the document then refuses it too. Not a schema answers use as well (a client must
      // take the fields a later release adds), nor one that documents what the server does not check field by field.
      if (!inAnswers.has(name) && !isDocumentationOnly(name) && schema.properties && schema.additionalProperties === undefined) schema.additionalProperties = false;
      continue;
    }
    for (const [field, property] of Object.entries(schema.properties ?? {})) {
      const instant = property as SchemaNode & { format?: string };
      if (/At$/.test(field) && instant.type === 'string' && instant.format === undefined) instant.format = 'date-time';
    }
  }
  const ifMatchPaths = new Set(Object.values(document.paths).filter((item) => [item.put, item.patch, item.delete, item.post].some((o) => takes(o, 'If-Match'))));
  for (const item of Object.values(document.paths)) {
    for (const operation of [item.get, item.post, item.put, item.patch, item.delete]) {
      if (!operation) continue;
      for (const parameter of operation.parameters ?? []) if ('schema' in parameter) visit(parameter.schema as SchemaNode);
      // Every request's trace (correlationMiddleware): the client's correlation id, kept when a UUID, and both ids echoed.
      if (!takes(operation, 'X-Correlation-Id')) {
        operation.parameters = [
          ...(operation.parameters ?? []),
          { name: 'X-Correlation-Id', in: 'header', required: false, description: 'A UUID the events and log lines of this request carry (a new one when absent or not a UUID)', schema: { type: 'string', format: 'uuid' } },
        ];
      }
      const idempotent = takes(operation, 'Idempotency-Key');
      // An action (a POST) whose body's every field is optional may leave it out (the parser reads none as {}): not a
      // required body. Not a PATCH: a change that changes nothing is refused (400).
      const requestBody = operation.requestBody as { required?: boolean; content?: Record<string, { schema?: SchemaNode }> } | undefined;
      const bodySchema = schemas[refOf(requestBody?.content?.['application/json']?.schema) ?? ''] as (SchemaNode & { required?: string[] }) | undefined;
      if (operation === item.post && requestBody?.required && bodySchema?.properties && Object.keys(bodySchema.properties).length > 0 && !bodySchema.required?.length) requestBody.required = false;
      const responses = operation.responses as Responses;
      if (idempotent) {
        const problem = responses.default?.content;
        const add = (code: string, text: string) => {
          responses[code] = responses[code]
            ? { ...responses[code], description: `${responses[code].description}; or ${text}` }
            : { description: text, ...(problem && { content: problem }) };
        };
        add('409', '`request-in-progress`: a request with this Idempotency-Key is still running (retry after Retry-After)');
        add('422', '`idempotency-key-reused`: this Idempotency-Key was sent with another request');
      }
      for (const [code, response] of Object.entries(responses)) {
        if (!response || typeof response !== 'object') continue;
        const headers: Record<string, unknown> = {
          ...response.headers,
          'X-Correlation-Id': header("The request's correlation id: the one sent when a UUID, else a new one"),
          'X-Request-Id': header("This request's id: the causationId of the events it caused"),
        };
        if (code === '201') headers.Location = header('The created resource');
        if (code === '409' || code === '503') headers['Retry-After'] = header('Seconds to wait before retrying, where a retry can succeed', 'integer');
        if (/^2\d\d$/.test(code)) {
          const body = bodyOf(response);
          // Also the read of a resource changed under If-Match at the same path (a location's default bank profile:
          // read as one schema, answered after a change as another).
          const single = body !== undefined && (schemas[body]?.properties?.version !== undefined || schemas[body]?.properties?.revision !== undefined);
          if (body !== undefined && (versioned.has(body) || (single && operation === item.get && ifMatchPaths.has(item)))) {
            const field = schemas[body]?.properties?.version ? 'version' : 'revision';
            headers.ETag = header(`The resource's ${field}, quoted ("3"): send it back in If-Match`);
          }
        }
        // The answers kept for a retry with the same key: successes and the refusals a retry cannot change (a conflict, a
        // stale If-Match, a gone resource, an unprocessable request: STORED_FAILURES of the idempotency interceptor).
        if (idempotent && /^(2\d\d|409|410|412|422)$/.test(code)) headers['Idempotent-Replayed'] = header('`true` on the first answer sent again to a retry with the same Idempotency-Key');
        if (Object.keys(headers).length) response.headers = headers;
      }
    }
  }
}

/**
 * A body that is not JSON answers 415: the JSON parser would leave it unread, and the request would then fail
 * validation field by field as if it had sent nothing.
 */
export function requireJsonBody(request: Request, _response: Response, next: NextFunction): void {
  const hasBody = Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
  // A merge patch (RFC 7396) merges nested objects and removes what is null; a JSON patch is a list of operations.
  // Read as application/json, a PATCH's nested object (an address, a beneficiary) would replace the stored one whole,
  // the fields the client meant to keep lost: refused, saying how a PATCH here is read.
  const patch = hasBody && request.is(['application/merge-patch+json', 'application/json-patch+json']);
  if (patch) {
    const detail =
      `${patch} is not applied as its RFC says: send application/json, whose fields replace the stored ones ` +
      '(a nested object whole, with every field it keeps), and whose fields left out are kept.';
    return next(new ProblemException(HttpStatus.UNSUPPORTED_MEDIA_TYPE, 'unsupported-media-type', 'Unsupported Media Type', detail));
  }
  if (!hasBody || request.is(['application/json', 'application/*+json'])) return next();
  const detail = `Send the body as JSON (Content-Type: application/json), not ${request.headers['content-type'] ?? 'without a Content-Type'}.`;
  // Answered by bodyErrorHandler, as the body parser's own errors are.
  const refuse = () => next(new ProblemException(HttpStatus.UNSUPPORTED_MEDIA_TYPE, 'unsupported-media-type', 'Unsupported Media Type', detail));
  // Sent chunked without a Content-Type: a client streaming a body it may leave empty (a Submit's), which only its end
  // tells. Nothing: no body. A first byte: refused at once, the rest read and dropped (the connection stays usable).
  // The stream's events come from the connection's context: the request's (its trace, its correlation id) is bound to
  // what they decide, as the body parser does.
  if (request.headers['content-type'] === undefined && request.headers['content-length'] === undefined) {
    let decided = false;
    const decide = AsyncResource.bind((answer: () => void) => {
      if (decided) return;
      decided = true;
      answer();
    });
    request.on('data', (chunk: Buffer) => chunk.length > 0 && decide(refuse));
    request.once('end', () => decide(next));
    // The client went away before the body's end (or Node's requestTimeout ended it): the body parser's own error for
    // it (400 request-aborted), not a 500.
    request.once('error', () => decide(() => next(Object.assign(new Error('request aborted'), { status: 400, type: 'request.aborted' }))));
    return;
  }
  refuse();
}

/**
 * Body-parser errors happen before routing; they still answer problem+json, and are logged (the request log is written
 * by a middleware that runs after the body parser: such a request would leave no line at all).
 */
function bodyErrorHandler(error: unknown, request: Request, response: Response, next: NextFunction): void {
  if (response.headersSent) return next(error);
  const problem = new ProblemFilter().toProblemAt(error, request);
  BODY_ERRORS.log(`${request.method} ${request.path} answered ${problem.status} before routing: ${problem.title}`);
  response.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

const BODY_ERRORS = new Logger('HttpBody');

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

/** Starts consuming, then serves HTTP. */
export async function startServiceApp(app: INestApplication, port?: number): Promise<void> {
  const config = app.get<PlatformConfig>(CONFIG);
  (app as NestExpressApplication).use(bodyErrorHandler);
  await app.init();
  await app.startAllMicroservices();
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
  const starting = startServiceApp(app);
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
  logger.log(`${config.SERVICE_NAME} listening on ${config.PORT}`);
}

/**
 * Our ETags are the resources' versions, for If-Match (SPEC 4), not cache validators: an answer can change while its
 * version does not (an enrollment's program renamed, its next action as the program or the clock moves on, another
 * viewer's wording). Express answers 304 to an If-None-Match naming the ETag a handler set, and a browser revalidating
 * its copy kept the stale one: conditional GETs are not served, every read answers in full. On a write, If-None-Match
 * and If-Unmodified-Since are conditions the write must not run without (`If-None-Match: *`: create only, never
 * replace, RFC 9110 13.1), which no write here checks: refused (400 naming the header), not dropped, so that a
 * create-only PUT never replaces what is there. If-Match is the write's condition here.
 */
export function noConditionalGet(request: Request, response: Response, next: NextFunction): void {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    const unchecked = (['If-None-Match', 'If-Unmodified-Since'] as const).find((name) => request.headers[name.toLowerCase()] !== undefined);
    if (unchecked) {
      return next(Problems.field(unchecked, 'is not taken on a write: send If-Match with the ETag read (an update), or an Idempotency-Key (a creation)'));
    }
  }
  delete request.headers['if-none-match'];
  delete request.headers['if-modified-since'];
  // Nor are answers kept by caches on the way: they are a partner's data (a back office's decrypted details behind
  // X-Operator-Key, which is no Authorization header a shared cache would know to leave alone). A route whose answer is
  // public says so itself (the JWKS: @Header('Cache-Control', ...)).
  response.setHeader('Cache-Control', 'no-store');
  next();
}
