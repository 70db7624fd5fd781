import type { Type } from '@nestjs/common';
import type { OpenAPIObject } from '@nestjs/swagger';
import { getMetadataStorage } from 'class-validator';
import { targetConstructorToSchema, validationMetadatasToSchemas } from 'class-validator-jsonschema';
import { scopedKeys } from '../auth/principal';
import { isDocumentationOnly } from './documentation-only';
import { PROBLEM_CONTENT_TYPE } from './problem';

/*
 * What the OpenAPI document generated from the controllers does not say by itself, added to it once at start
 * (createServiceApp): the problem+json answers, the checks class-validator makes, and the platform's conventions
 * (headers, unknown fields refused).
 */

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
        if (idempotent && /^(2\d\d|409|410|412|422)$/.test(code)) headers['Idempotent-Replayed'] = header('`true` on the first answer sent again to a retry with the same Idempotency-Key, with the first request\'s X-Request-Id and X-Correlation-Id (those of its events and log lines)');
        if (Object.keys(headers).length) response.headers = headers;
      }
    }
  }
}
