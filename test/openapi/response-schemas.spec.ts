/**
 * Every service's OpenAPI document says what each success answer looks like: a 2xx response with a body has a
 * schema. A controller that returns a plain object without @ApiOkResponse({ type }) (or @ApiCreatedResponse) shows
 * up as an empty response, which a client generator turns into `unknown`.
 *
 * The operations come from SwaggerModule.createDocument, as in bootstrap.ts (which then only adds the problem+json
 * error responses), over an app created in preview mode: the module graph is resolved but no provider is
 * instantiated, so neither Kafka nor MongoDB is needed and the five documents take well under a second.
 * /health and /metrics are left out of the documents (@ApiExcludeController); 204 has no body.
 */
import { RequestMethod, Type } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer, NestFactory } from '@nestjs/core';
import { IS_OPERATOR, IS_PUBLIC } from '../../libs/platform/src/auth/principal';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { documentProblems } from '../../libs/platform/src/bootstrap';
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

/** Success answers without a body. */
const NO_BODY = new Set(['204', '205']);

async function openApiDocument(module: Type<unknown>): Promise<OpenAPIObject> {
  return (await openApi(module)).document;
}

/** How the platform's guard treats a route, from its controller's metadata (not from the OpenAPI document). */
type Access = 'token' | 'operator' | 'public' | 'own guard';

/** The document, and for each route (`post /v1/things/{id}`) how it is guarded. */
async function openApi(module: Type<unknown>): Promise<{ document: OpenAPIObject; access: Map<string, Access> }> {
  const app = await NestFactory.create(module, { preview: true, logger: false, abortOnError: false });
  try {
    const access = new Map<string, Access>();
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
          access.set(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`, kind);
        }
      }
    }
    return { document: SwaggerModule.createDocument(app, new DocumentBuilder().build()), access };
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
      const bearer = (operation.security ?? []).some((requirement) => 'bearer' in requirement);
      if (kind === undefined) gaps.push(`${method.toUpperCase()} ${path}: no route found`);
      else if (kind === 'token' && !bearer) gaps.push(`${method.toUpperCase()} ${path}: behind a token, not declared`);
      else if ((kind === 'operator' || kind === 'public') && bearer) gaps.push(`${method.toUpperCase()} ${path}: declares a token it does not take (${kind})`);
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
 * The error answers a client generator needs to know of: every operation declares 400 (and 401 behind a bearer token),
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
      const bearer = (operation.security ?? []).some((requirement) => 'bearer' in requirement);
      const expected = ['400', ...(bearer ? ['401'] : []), ...(ifMatch ? ['412'] : []), ...(ifMatch?.required ? ['428'] : [])];
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
  it.each(services)('%s: 400 everywhere, 401 behind a token, If-Match with its 412 (and 428 when required), as problem+json', async (_name, module) => {
    const { document, access } = await openApi(module);
    // Which routes are behind a token comes from the guard's metadata: documentProblems reads the declaration.
    expect(misdeclaredTokens(document, access)).toEqual([]);
    expect([...access.values()]).toContain('token');
    documentProblems(document);
    expect(undeclaredErrors(document)).toEqual([]);
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
