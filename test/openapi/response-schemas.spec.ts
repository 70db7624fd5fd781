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
import { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
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
  const app = await NestFactory.create(module, { preview: true, logger: false, abortOnError: false });
  try {
    return SwaggerModule.createDocument(app, new DocumentBuilder().build());
  } finally {
    await app.close();
  }
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
