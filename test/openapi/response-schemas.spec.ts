/**
 * Every service's OpenAPI document says what each success answer looks like: a 2xx response with a body has a
 * schema. A controller that returns a plain object without @ApiOkResponse({ type }) (or @ApiCreatedResponse) shows
 * up as an empty response, which a client generator turns into `unknown`.
 *
 * The operations come from SwaggerModule.createDocument, as in createServiceApp (which then adds the problem+json
 * answers and the conventions: http/openapi-document.ts), over an app created in preview mode: the module graph is resolved but no provider is
 * instantiated, so neither Kafka nor MongoDB is needed and the five documents take well under a second.
 * /health and /metrics are left out of the documents (@ApiExcludeController); 204 has no body.
 *
 * Requests too: each body and query string is documented as the class-validator DTO the route validates it with
 * (found from the route's @Body() / @Query() parameter types) says, so that a generated client sends what is accepted.
 */
import { RequestMethod, Type } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { ModulesContainer, NestFactory } from '@nestjs/core';
import { IS_OPERATOR, IS_PUBLIC } from '../../libs/platform/src/auth/principal';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { getMetadataStorage } from 'class-validator';
import { documentConventions, documentProblems } from '../../libs/platform/src/http/openapi-document';
import { isDocumentationOnly } from '../../libs/platform/src/http/documentation-only';
import { ScimEmailInput, ScimNameInput, ScimUserInput } from '../../services/identity/src/users/dto/import.dto';
import { AppModule as Enrollment } from '../../services/enrollment/src/app.module';
import { AppModule as Identity } from '../../services/identity/src/app.module';
import { AppModule as Invitations } from '../../services/invitations/src/app.module';
import { AppModule as Notification } from '../../services/notification/src/app.module';
import { AppModule as PayoutProfiles } from '../../services/payout-profiles/src/app.module';

const services: Array<[string, Type<unknown>]> = [
  ['identity', Identity],
  ['invitations', Invitations],
  ['enrollment', Enrollment],
  ['payout-profiles', PayoutProfiles],
  ['notification', Notification],
];

/** Whether an operation declares the security scheme (`bearer`, `operator`). */
const declares = (operation: { security?: Array<Record<string, unknown>> }, scheme: string) => (operation.security ?? []).some((requirement) => scheme in requirement);

/** Success answers without a body. */
const NO_BODY = new Set(['204', '205']);

async function openApiDocument(module: Type<unknown>): Promise<OpenAPIObject> {
  return (await openApi(module)).document;
}

/** How the platform's guard treats a route, from its controller's metadata (not from the OpenAPI document). */
type Access = 'token' | 'operator' | 'public' | 'own guard';

/** The DTO classes a route reads its body and its query string into (@Body() and @Query() of a class). */
interface Inputs {
  body?: Type<unknown>;
  query?: Type<unknown>;
}

/** The document, for each route (`post /v1/things/{id}`) how it is guarded, and the classes it validates its input with. */
async function openApi(module: Type<unknown>): Promise<{ document: OpenAPIObject; access: Map<string, Access>; inputs: Map<string, Inputs> }> {
  const app = await NestFactory.create(module, { preview: true, logger: false, abortOnError: false });
  try {
    const access = new Map<string, Access>();
    const inputs = new Map<string, Inputs>();
    for (const { controllers } of app.get(ModulesContainer).values()) {
      for (const { metatype } of controllers.values()) {
        if (!metatype) continue;
        const prefix = String(Reflect.getMetadata(PATH_METADATA, metatype) ?? '');
        for (const name of Object.getOwnPropertyNames(metatype.prototype)) {
          const handler = metatype.prototype[name];
          if (typeof handler !== 'function' || Reflect.getMetadata(METHOD_METADATA, handler) === undefined) continue;
          const path = `/${[prefix, String(Reflect.getMetadata(PATH_METADATA, handler) ?? '')].join('/')}`.replace(/\/+/g, '/').replace(/\/$/, '');
          const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod].toLowerCase();
          const marked = (key: string) => Reflect.getMetadata(key, handler) ?? Reflect.getMetadata(key, metatype);
          const ownGuard = (Reflect.getMetadata(GUARDS_METADATA, handler) ?? Reflect.getMetadata(GUARDS_METADATA, metatype) ?? []).length > 0;
          const kind: Access = marked(IS_OPERATOR) ? 'operator' : marked(IS_PUBLIC) ? (ownGuard ? 'own guard' : 'public') : 'token';
          const route = `${method} ${path.replace(/:(\w+)/g, '{$1}')}`;
          access.set(route, kind);
          const types = (Reflect.getMetadata('design:paramtypes', metatype.prototype, name) ?? []) as Array<Type<unknown> | undefined>;
          const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, metatype, name) ?? {}) as Record<string, { index: number; data?: unknown }>;
          const input: Inputs = {};
          for (const [key, { index, data }] of Object.entries(args)) {
            const type = types[index];
            if (data !== undefined || !type || [Object, String, Number, Boolean, Array].includes(type as never)) continue;
            if (Number(key.split(':')[0]) === RouteParamtypes.BODY) input.body = type;
            if (Number(key.split(':')[0]) === RouteParamtypes.QUERY) input.query = type;
          }
          inputs.set(route, input);
        }
      }
    }
    return { document: SwaggerModule.createDocument(app, new DocumentBuilder().build()), access, inputs };
  } finally {
    await app.close();
  }
}

/**
 * Operations whose bearer-token declaration (and so their 401) disagrees with how the guard treats them: a route behind
 * a token without @ApiBearerAuth, or an operator's or public one with it. Routes with a guard of their own (operator or
 * user) may declare either.
 */
function misdeclaredTokens(document: OpenAPIObject, access: Map<string, Access>): string[] {
  const gaps: string[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const operation = item[method];
      if (!operation) continue;
      const kind = access.get(`${method} ${path}`);
      const bearer = declares(operation, 'bearer');
      if (kind === undefined) gaps.push(`${method.toUpperCase()} ${path}: no route found`);
      else if (kind === 'token' && !bearer) gaps.push(`${method.toUpperCase()} ${path}: behind a token, not declared`);
      else if ((kind === 'operator' || kind === 'public') && bearer) gaps.push(`${method.toUpperCase()} ${path}: declares a token it does not take (${kind})`);
      const operator = declares(operation, 'operator');
      if (kind === 'operator' && !operator) gaps.push(`${method.toUpperCase()} ${path}: operator only, X-Operator-Key not declared`);
      else if (kind !== undefined && kind !== 'operator' && kind !== 'own guard' && operator) gaps.push(`${method.toUpperCase()} ${path}: declares X-Operator-Key it does not take (${kind})`);
    }
  }
  return gaps;
}

/** `GET /v1/things 200` for every 2xx response with a body but no schema. */
function successesWithoutSchema(document: OpenAPIObject): string[] {
  const gaps: string[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const responses = item[method]?.responses ?? {};
      for (const [status, response] of Object.entries(responses)) {
        if (!/^2\d\d$/.test(status) || NO_BODY.has(status)) continue;
        const content = response && 'content' in response ? response.content : undefined;
        const schemaless = !content || Object.values(content).some((media) => !media.schema);
        if (schemaless) gaps.push(`${method.toUpperCase()} ${path} ${status}`);
      }
    }
  }
  return gaps;
}

describe('OpenAPI documents', () => {
  it.each(services)('%s: every success answer with a body has a schema', async (_name, module) => {
    const document = await openApiDocument(module);
    expect(Object.keys(document.paths).length).toBeGreaterThan(0);
    expect(successesWithoutSchema(document)).toEqual([]);
  });
});

/**
 * The error answers a client generator needs to know of: every operation declares 400 (and 401 behind a bearer token or
 * the operator credential, 403 behind a bearer token, 404 where its path names a resource),
 * and one taking If-Match declares the header, 412, and 428 when it is required (IfMatch and OptionalIfMatch add the
 * answers; the route declares the header). Declared ones are problem+json.
 */
function undeclaredErrors(document: OpenAPIObject): string[] {
  const gaps: string[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const operation = item[method];
      if (!operation) continue;
      const codes = Object.keys(operation.responses ?? {});
      const ifMatch = (operation.parameters ?? []).find((p) => 'in' in p && p.in === 'header' && p.name === 'If-Match') as { required?: boolean } | undefined;
      const bearer = declares(operation, 'bearer');
      const operator = declares(operation, 'operator');
      // A route naming a resource in its path answers 404 when there is none (or none the caller may see).
      const named = path.includes('{');
      // 503 everywhere: any route may meet its database or broker not answering.
      const expected = ['400', ...(bearer || operator ? ['401'] : []), ...(bearer ? ['403'] : []), ...(named ? ['404'] : []), ...(ifMatch ? ['412'] : []), ...(ifMatch?.required ? ['428'] : []), '503'];
      // 412 comes with IfMatch / OptionalIfMatch (428 with IfMatch): the route must declare the header it reads.
      if (codes.includes('412') && !ifMatch) gaps.push(`${method.toUpperCase()} ${path} If-Match header`);
      if (codes.includes('428') && !ifMatch?.required) gaps.push(`${method.toUpperCase()} ${path} If-Match header required`);
      for (const code of expected.filter((c) => !codes.includes(c))) gaps.push(`${method.toUpperCase()} ${path} ${code}`);
      for (const code of codes.filter((c) => /^[45]/.test(c))) {
        const response = operation.responses[code] as { content?: Record<string, unknown> };
        if (!response.content?.['application/problem+json']) gaps.push(`${method.toUpperCase()} ${path} ${code} not problem+json`);
      }
    }
  }
  return gaps;
}

describe('OpenAPI documents: error answers', () => {
  it.each(services)('%s: 400 everywhere, 401 behind a token or the operator key, 403 behind a token, 404 with a resource in the path, If-Match with its 412 (and 428 when required), 503 everywhere, as problem+json', async (_name, module) => {
    const { document, access } = await openApi(module);
    // Which routes are behind a token comes from the guard's metadata: documentProblems reads the declaration.
    expect(misdeclaredTokens(document, access)).toEqual([]);
    expect([...access.values()]).toContain('token');
    documentProblems(document);
    expect(undeclaredErrors(document)).toEqual([]);
  });

  // A location named in the query string is looked up as one in the path is (AccessPolicy.requireView): none the caller
  // may see answers 404.
  it('documents 404 on the lists and the readiness answer that name a location in their query string', async () => {
    const documents = { enrollment: await openApiDocument(Enrollment), invitations: await openApiDocument(Invitations), payout: await openApiDocument(PayoutProfiles) };
    const codes = (document: OpenAPIObject, path: string) => Object.keys(document.paths[path]?.get?.responses ?? {});
    expect(codes(documents.enrollment, '/v1/enrollments')).toContain('404');
    expect(codes(documents.invitations, '/v1/invitations')).toContain('404');
    expect(codes(documents.payout, '/v1/readiness')).toContain('404');
  });

  it('documents Idempotent-Replayed on the refusals kept for a retry too, and the Location of an existing enrollment Enroll answers 200', async () => {
    const enrollment = await openApiDocument(Enrollment);
    documentProblems(enrollment);
    documentConventions(enrollment);
    const responses = enrollment.paths['/v1/enrollments'].post!.responses as Record<string, { headers?: Record<string, unknown> }>;
    for (const code of ['200', '201', '409', '412', '422']) expect(Object.keys(responses[code]?.headers ?? {})).toContain('Idempotent-Replayed');
    expect(Object.keys(responses['400']?.headers ?? {})).not.toContain('Idempotent-Replayed');
    expect(Object.keys(responses['200'].headers ?? {})).toContain('Location');
    // Every request's trace: the correlation id taken, both ids echoed, on every answer.
    expect((enrollment.paths['/v1/enrollments'].post!.parameters ?? []).map((p) => ('name' in p ? p.name : ''))).toContain('X-Correlation-Id');
    for (const code of ['200', '400', 'default']) expect(Object.keys(responses[code]?.headers ?? {})).toEqual(expect.arrayContaining(['X-Correlation-Id', 'X-Request-Id']));
  });

  it('documents a body whose every field is optional as one that may be left out', async () => {
    const enrollment = await openApiDocument(Enrollment);
    documentConventions(enrollment);
    const body = (path: string) => enrollment.paths[path]?.post?.requestBody as { required?: boolean } | undefined;
    expect(body('/v1/enrollments/{enrollmentId}/refresh')?.required).toBe(false);
    expect(body('/v1/enrollments')?.required).toBe(true);
    // A PATCH's fields are all optional, but one that changes nothing is refused: its body stays required.
    const payout = await openApiDocument(PayoutProfiles);
    documentConventions(payout);
    expect((payout.paths['/v1/bank-profiles/{profileId}']?.patch?.requestBody as { required?: boolean } | undefined)?.required).toBe(true);
  });

  it("documents the 403 of an operator-only route to the service's scoped credential (X-Validator-Key), not on one that takes it", async () => {
    const payout = await openApiDocument(PayoutProfiles);
    documentProblems(payout);
    const responses = (path: string) => payout.paths[path]?.post?.responses as Record<string, { description?: string }>;
    expect(responses('/v1/operator/tax-expiry-scan')['403']?.description).toContain('X-Validator-Key');
    expect(responses('/v1/operator/profiles/{profileId}/validation')['403']?.description ?? '').not.toContain('X-Validator-Key');
  });

  it('documents If-Match where it is required (a bank profile edit) and where it is optional (Submit)', async () => {
    const payout = await openApiDocument(PayoutProfiles);
    const enrollment = await openApiDocument(Enrollment);
    const header = (document: OpenAPIObject, path: string, method: 'patch' | 'post') =>
      (document.paths[path]?.[method]?.parameters ?? []).find((p) => 'name' in p && p.name === 'If-Match') as { required?: boolean } | undefined;
    expect(header(payout, '/v1/bank-profiles/{profileId}', 'patch')).toMatchObject({ required: true });
    expect(Object.keys(payout.paths['/v1/bank-profiles/{profileId}'].patch!.responses)).toEqual(expect.arrayContaining(['412', '428']));
    expect(header(enrollment, '/v1/enrollments/{enrollmentId}/submit', 'post')).toMatchObject({ required: false });
  });
});

/** A property's schema in the document: `$ref`s and `allOf: [$ref]` followed to the schema they name. */
type Schema = { type?: string; items?: Schema; $ref?: string; allOf?: Schema[]; minimum?: number; maximum?: number; minLength?: number; maxLength?: number; pattern?: string; minItems?: number; maxItems?: number; properties?: Record<string, Schema> };

/** One class-validator check of a property (`isInt`, `min`, `nested`...), on the value or on each entry. */
type Check = { name: string; each: boolean; constraints: unknown[] };

/** The class-validator checks on each property of a class and the classes it extends, by property. */
function validations(dto: Type<unknown>): Map<string, Check[]> {
  const byProperty = new Map<string, Check[]>();
  const all = getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false);
  for (const meta of all) {
    if (typeof meta.propertyName !== 'string') continue; // EmptyBody's symbol-keyed @Allow: no JSON field
    const name = meta.type === 'nestedValidation' ? 'nested' : (meta.name ?? meta.type);
    byProperty.set(meta.propertyName, [...(byProperty.get(meta.propertyName) ?? []), { name, each: meta.each === true, constraints: meta.constraints ?? [] }]);
  }
  return byProperty;
}

/**
 * Where a property's OpenAPI schema disagrees with what the server validates: a client generated from the document
 * must build requests the server takes. Integers are `integer` (not `number`), booleans and strings their type,
 * @Min / @Max are `minimum` / `maximum`, and an array the server requires objects in (or validates each entry of as a
 * class) has object items, not strings.
 */
function schemaMismatches(document: OpenAPIObject, property: string, schema: Schema | undefined, checks: Check[]): string[] {
  const resolve = (s: Schema | undefined): Schema | undefined => {
    const ref = s?.$ref ?? (s?.allOf?.length === 1 ? s.allOf[0].$ref : undefined);
    return ref ? (document.components?.schemas?.[ref.split('/').pop()!] as Schema) : s;
  };
  if (!schema) return [`${property}: not in the document`];
  const gaps: string[] = [];
  for (const check of checks) {
    const target = check.each ? resolve(schema.items) : resolve(schema);
    const where = `${property}${check.each ? '[]' : ''}`;
    const objectLike = !!target && (target.type === 'object' || target.properties !== undefined);
    if (check.name === 'isInt' && target?.type !== 'integer') gaps.push(`${where}: validated as an integer, documented as ${target?.type}`);
    if (check.name === 'isBoolean' && target?.type !== 'boolean') gaps.push(`${where}: validated as a boolean, documented as ${target?.type}`);
    if (check.name === 'isString' && target?.type !== 'string') gaps.push(`${where}: validated as a string, documented as ${target?.type}`);
    if ((check.name === 'isObject' || check.name === 'nested') && !objectLike) gaps.push(`${where}: validated as an object, documented as ${target?.type}`);
    if (check.name === 'min' && !check.each && schema.minimum !== check.constraints[0]) gaps.push(`${where}: minimum ${check.constraints[0]}, documented ${schema.minimum}`);
    if (check.name === 'max' && !check.each && schema.maximum !== check.constraints[0]) gaps.push(`${where}: maximum ${check.constraints[0]}, documented ${schema.maximum}`);
    if (check.name === 'isLength' && !check.each && (schema.minLength !== check.constraints[0] || schema.maxLength !== check.constraints[1])) {
      gaps.push(`${where}: length ${check.constraints[0]} to ${check.constraints[1]}, documented ${schema.minLength} to ${schema.maxLength}`);
    }
    if (check.name === 'matches' && !check.each && schema.pattern !== (check.constraints[0] as RegExp).source) gaps.push(`${where}: pattern ${(check.constraints[0] as RegExp).source}, documented ${schema.pattern}`);
    if (check.name === 'matches' && check.each && target?.pattern !== (check.constraints[0] as RegExp).source) gaps.push(`${where}: pattern ${(check.constraints[0] as RegExp).source}, documented ${target?.pattern}`);
    if (check.name === 'maxLength' && target?.maxLength !== check.constraints[0]) gaps.push(`${where}: at most ${check.constraints[0]} characters, documented ${target?.maxLength}`);
    if (check.name === 'arrayMinSize' && schema.minItems !== check.constraints[0]) gaps.push(`${where}: at least ${check.constraints[0]} items, documented ${schema.minItems}`);
    if (check.name === 'arrayMaxSize' && schema.maxItems !== check.constraints[0]) gaps.push(`${where}: at most ${check.constraints[0]} items, documented ${schema.maxItems}`);
  }
  return gaps;
}

/** Every mismatch between the classes the routes validate their body and query string with and the document. */
function inputMismatches(document: OpenAPIObject, inputs: Map<string, Inputs>): string[] {
  const gaps: string[] = [];
  for (const [route, { body, query }] of inputs) {
    const [method, path] = route.split(' ') as ['get', string];
    const operation = document.paths[path]?.[method];
    if (!operation) continue;
    const bodyChecks = body ? validations(body) : new Map<string, Check[]>();
    if (body && bodyChecks.size > 0) {
      const schema = document.components?.schemas?.[body.name] as Schema | undefined;
      if (!schema) gaps.push(`${route} body ${body.name}: not in the document`);
      else for (const [property, checks] of bodyChecks) gaps.push(...schemaMismatches(document, property, schema.properties?.[property], checks).map((g) => `${route} body ${g}`));
    }
    if (query) {
      for (const [property, checks] of validations(query)) {
        const parameter = (operation.parameters ?? []).find((p) => 'in' in p && p.in === 'query' && p.name === property) as { schema?: Schema } | undefined;
        gaps.push(...schemaMismatches(document, property, parameter?.schema, checks).map((g) => `${route} query ${g}`));
      }
    }
  }
  return gaps;
}

describe('OpenAPI documents: request schemas', () => {
  it.each(services)('%s: bodies and query strings are documented as the server validates them', async (_name, module) => {
    const { document, inputs } = await openApi(module);
    // As served: the conventions write what the DTOs' rules check into the schemas (documentValidation).
    documentConventions(document, [...inputs.values()].flatMap(({ body, query }) => [body, query].filter((type) => type !== undefined)));
    // Some routes take a body and some a query string: the walk found them (so an empty answer below means something).
    expect([...inputs.values()].filter((i) => i.body || i.query).length).toBeGreaterThan(0);
    expect(inputMismatches(document, inputs)).toEqual([]);
  });

  it.each(services)('%s: what only requests send is closed to other fields (the server refuses them), what answers show is open', async (_name, module) => {
    const document = await openApiDocument(module);
    documentProblems(document);
    documentConventions(document);
    const schemas = document.components!.schemas as Record<string, Schema & { additionalProperties?: unknown }>;
    const operations = Object.values(document.paths).flatMap((item) => [item.get, item.post, item.put, item.patch, item.delete].filter((o) => o !== undefined));
    const contents = (content: Record<string, { schema?: unknown }> | undefined) => Object.values(content ?? {}).map((media) => media.schema as Schema);
    const sent = namedFrom(schemas, operations.flatMap((o) => (o.requestBody && 'content' in o.requestBody ? contents(o.requestBody.content) : [])));
    const shown = namedFrom(schemas, operations.flatMap((o) => Object.values(o.responses).flatMap((r) => (r && 'content' in r ? contents(r.content) : []))));
    // No schema both: a request's class and an answer's are two (the answer's extends it), so each can say what it takes.
    expect([...sent].filter((name) => shown.has(name))).toEqual([]);
    const open = [...sent].filter((name) => schemas[name].properties && schemas[name].additionalProperties !== false);
    expect(open).toEqual(open.filter((name) => isDocumentationOnly(name)));
    expect([...shown].filter((name) => schemas[name].additionalProperties === false)).toEqual([]);
  });

  it('leaves open only the classes the validation pipe does not check (a SCIM user: the import checks each itself)', async () => {
    for (const documented of [ScimUserInput, ScimNameInput, ScimEmailInput]) {
      expect(isDocumentationOnly(documented.name)).toBe(true);
      expect(getMetadataStorage().getTargetValidationMetadatas(documented, '', true, false)).toEqual([]);
    }
    const document = await openApiDocument(Identity);
    documentConventions(document);
    const schema = (name: string) => document.components!.schemas![name] as { additionalProperties?: unknown };
    expect(schema('ScimUserInput').additionalProperties).toBeUndefined();
    expect(schema('ScimListResponseInput').additionalProperties).toBe(false);
    const payout = await openApiDocument(PayoutProfiles);
    documentConventions(payout);
    // A beneficiary as requests send it, and as answers show it: the same fields.
    const properties = (name: string) => Object.keys((payout.components!.schemas![name] as Schema).properties!);
    expect(properties('BeneficiaryView')).toEqual(properties('BeneficiaryDto'));
    expect(properties('BusinessProfileView')).toEqual(properties('BusinessProfileDto'));
    expect(properties('AddressView')).toEqual(properties('AddressDto'));
  });

  it('documents a directory import as SCIM user objects with integer counts', async () => {
    const { document } = await openApi(Identity);
    const list = document.components!.schemas!.ScimListResponseInput as Schema;
    expect(list.properties!.Resources.items).toEqual({ $ref: '#/components/schemas/ScimUserInput' });
    expect(list.properties!.totalResults.type).toBe('integer');
    expect(Object.keys((document.components!.schemas!.ScimUserInput as Schema).properties!)).toEqual(
      expect.arrayContaining(['externalId', 'userName', 'name', 'displayName', 'emails', 'active']),
    );
  });
});

/**
 * The component schemas these name, directly or through the schemas they name: every `#/components/schemas/` reference
 * in their JSON (read apart from openapi-document's schemasReached, which decides what is closed).
 */
function namedFrom(schemas: Record<string, unknown>, roots: unknown[]): Set<string> {
  const named = new Set<string>();
  const texts = roots.map((root) => JSON.stringify(root ?? null));
  for (let text = texts.pop(); text !== undefined; text = texts.pop()) {
    for (const [, name] of text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
      if (!named.has(name)) texts.push(JSON.stringify(schemas[name] ?? null));
      named.add(name);
    }
  }
  return named;
}

/** Every schema node of the document (components and parameters), with where it is. */
function schemaNodes(document: OpenAPIObject): Array<[string, Schema & { enum?: unknown[]; nullable?: boolean }]> {
  const found: Array<[string, Schema & { enum?: unknown[]; nullable?: boolean }]> = [];
  const walk = (where: string, node: (Schema & { enum?: unknown[]; nullable?: boolean }) | undefined) => {
    if (!node || typeof node !== 'object') return;
    found.push([where, node]);
    for (const [name, property] of Object.entries(node.properties ?? {})) walk(`${where}.${name}`, property);
    walk(`${where}[]`, node.items);
    (node.allOf ?? []).forEach((part, i) => walk(`${where}.allOf${i}`, part));
  };
  for (const [name, schema] of Object.entries(document.components?.schemas ?? {})) walk(name, schema as Schema);
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      for (const parameter of item[method]?.parameters ?? []) if ('schema' in parameter) walk(`${method} ${path} ${parameter.name}`, parameter.schema as Schema);
    }
  }
  return found;
}

describe('OpenAPI documents: the conventions every service shares (documentConventions)', () => {
  it.each(services)('%s: numbers are integers, nullable enums list null, 201 has Location, 409 and 503 Retry-After, an idempotent operation its 409 and 422', async (_name, module) => {
    const document = await openApiDocument(module);
    documentProblems(document);
    documentConventions(document);
    const nodes = schemaNodes(document);
    expect(nodes.filter(([, node]) => node.type === 'number').map(([where]) => where)).toEqual([]);
    expect(nodes.filter(([, node]) => node.nullable && node.enum && !node.enum.includes(null)).map(([where]) => where)).toEqual([]);
    const gaps: string[] = [];
    for (const [path, item] of Object.entries(document.paths)) {
      for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
        const operation = item[method];
        if (!operation) continue;
        const responses = operation.responses as Record<string, { headers?: Record<string, unknown> }>;
        for (const [code, response] of Object.entries(responses)) {
          if (code === '201' && !response.headers?.Location) gaps.push(`${method} ${path} 201 Location`);
          if ((code === '409' || code === '503') && !response.headers?.['Retry-After']) gaps.push(`${method} ${path} ${code} Retry-After`);
        }
        if ((operation.parameters ?? []).some((p) => 'name' in p && p.name === 'Idempotency-Key')) {
          for (const code of ['409', '422']) if (!responses[code]) gaps.push(`${method} ${path} idempotent ${code}`);
        }
      }
    }
    expect(gaps).toEqual([]);
  });

  it('declares ETag on the answers carrying a resource a client sends back in If-Match, and only those', async () => {
    const etag = (document: OpenAPIObject, path: string, method: 'get' | 'post' | 'patch', code = '200') =>
      ((document.paths[path]?.[method]?.responses as Record<string, { headers?: Record<string, unknown> }>)?.[code]?.headers ?? {}).ETag !== undefined;
    const enrollment = await openApiDocument(Enrollment);
    documentConventions(enrollment);
    expect(etag(enrollment, '/v1/enrollments/{enrollmentId}', 'get')).toBe(true);
    expect(etag(enrollment, '/v1/enrollments', 'post', '201')).toBe(true);
    expect(etag(enrollment, '/v1/programs/{programId}', 'patch')).toBe(true);
    // A page of them is no one resource.
    expect(etag(enrollment, '/v1/enrollments', 'get')).toBe(false);
    // Read as one schema, answered after an If-Match change as another: the read carries the ETag too.
    const defaults = await openApiDocument(PayoutProfiles);
    documentConventions(defaults);
    expect(etag(defaults, '/v1/locations/{locationId}/default-bank-profile', 'get')).toBe(true);
    const invitations = await openApiDocument(Invitations);
    documentConventions(invitations);
    // An invitation has a version but no route taking If-Match: no ETag is sent.
    expect(etag(invitations, '/v1/invitations/{invitationId}', 'get')).toBe(false);
    // The back office's two routes take its own credential instead of the operator's: two alternative requirements,
    // each a scheme of the document.
    const payout = await openApiDocument(PayoutProfiles);
    documentConventions(payout);
    for (const [path, method] of [['/v1/operator/profiles/{profileId}', 'get'], ['/v1/operator/profiles/{profileId}/validation', 'post']] as const) {
      expect(payout.paths[path][method]!.security).toEqual([{ operator: [] }, { validator: [] }]);
    }
    expect(payout.paths['/v1/operator/tax-expiry-scan']?.post?.security).toEqual([{ operator: [] }]);
    expect(payout.components!.securitySchemes!.validator).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-Validator-Key' });
    // Instants in answers are date-times; what a request sends is left as its DTO says (an expiry may be a date alone).
    const property = (document: OpenAPIObject, schema: string, name: string) => (document.components!.schemas![schema] as { properties: Record<string, { format?: string }> }).properties[name];
    expect(property(enrollment, 'EnrollmentDto', 'submittedAt').format).toBe('date-time');
    expect(property(invitations, 'InvitationDto', 'revokedAt').format).toBe('date-time');
    const before = await openApiDocument(PayoutProfiles);
    expect(property(payout, 'CreateTaxProfileDto', 'expiresAt')).toEqual(property(before, 'CreateTaxProfileDto', 'expiresAt'));
    // POST /v1/partners/{partnerId}/locations answers 201 (added) or 200 (already there): both declared.
    const identity = await openApiDocument(Identity);
    expect(Object.keys(identity.paths['/v1/partners/{partnerId}/locations'].post!.responses)).toEqual(expect.arrayContaining(['200', '201']));
  });
});
