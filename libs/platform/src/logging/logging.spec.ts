import express from 'express';
import pinoHttp, { Options } from 'pino-http';
import { Writable } from 'node:stream';
import request from 'supertest';
import pino from 'pino';
import { Trace } from '@lib/messaging';
import { auditLog, correlationMiddleware, loggedUrl, pinoParams } from './logging';

/** The request log of an express app wired as the services wire it: correlation first, then pino-http. */
function appLogging(serviceName = 'widgets'): { app: express.Express; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const options = pinoParams({ SERVICE_NAME: serviceName, LOG_LEVEL: 'info' }).pinoHttp as Options;
  const app = express();
  app.use(correlationMiddleware);
  app.use(pinoHttp(options, sink));
  app.get('/later', (_request, response) => {
    setTimeout(() => response.json({ ok: true }), 5);
  });
  return { app, lines };
}

describe('request logging', () => {
  // Two deployments of one service told apart by SERVICE_NAME: in their logs as in their metrics.
  it('names the service in every line by SERVICE_NAME', async () => {
    const { app, lines } = appLogging('identity-eu');
    await request(app).get('/later').expect(200);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ service: 'identity-eu' });
  });

  it('writes one line per request with its correlation id, once, and the authorization header redacted', async () => {
    const { app, lines } = appLogging();
    const correlationId = '5f0c7a52-3c1e-4b7e-9a55-0d4f2b1e9c11';
    const answer = await request(app).get('/later').set('x-correlation-id', correlationId).set('authorization', 'Bearer secret-token').expect(200);
    await new Promise((resolve) => setImmediate(resolve));

    const completed = lines.filter((line) => line.includes('request completed'));
    expect(completed).toHaveLength(1);
    const line = completed[0];
    expect(line.match(/"correlationId"/g)).toHaveLength(1);
    const entry = JSON.parse(line);
    // The request's own id is the causation id of what it causes (SPEC 3), in its log line and its answer.
    const requestId = answer.headers['x-request-id'];
    expect(requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(requestId).not.toBe(correlationId);
    expect(answer.headers['x-correlation-id']).toBe(correlationId);
    expect(entry).toMatchObject({ service: 'widgets', correlationId, causationId: requestId, req: { method: 'GET', url: '/later', id: requestId } });
    expect(line).not.toContain('secret-token');
  });

  it("keeps no list cursor in the line (the users list's holds an email address in clear), the rest of the query as it came", async () => {
    const { app, lines } = appLogging();
    const cursor = Buffer.from(JSON.stringify(['users', 'alice@contoso.example'])).toString('base64url');
    await request(app).get(`/later?limit=2&cursor=${cursor}&active=true`).expect(200);
    await new Promise((resolve) => setImmediate(resolve));
    const line = lines.find((l) => l.includes('request completed'))!;
    expect(JSON.parse(line).req.url).toBe('/later?limit=2&cursor=[redacted]&active=true');
    expect(line).not.toContain(cursor);
  });

  it('gives a request without a usable correlation id a new one, in its log line and its answer', async () => {
    const { app, lines } = appLogging();
    // Not a UUID (SPEC 3: the envelope's correlationId is one): replaced.
    const answer = await request(app).get('/later').set('x-correlation-id', 'corr-123').expect(200);
    await new Promise((resolve) => setImmediate(resolve));

    const generated = answer.headers['x-correlation-id'];
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    const entry = JSON.parse(lines.find((line) => line.includes('request completed'))!);
    expect(entry.correlationId).toBe(generated);
  });
});

describe('loggedUrl', () => {
  it.each([
    ['/v1/users', '/v1/users'],
    ['/v1/users?cursor=abc', '/v1/users?cursor=[redacted]'],
    ['/v1/users?limit=5&cursor=abc&cursor=def', '/v1/users?limit=5&cursor=[redacted]&cursor=[redacted]'],
    ['/v1/users?%63ursor=abc', '/v1/users?%63ursor=[redacted]'], // the name percent-encoded: Express reads it as cursor
    ['/v1/users?cursor', '/v1/users?cursor'], // no value to hide
    ['/v1/users?cursors=abc&limit=%zz', '/v1/users?cursors=abc&limit=%zz'],
  ])('%s -> %s', (url, logged) => {
    expect(loggedUrl(url)).toBe(logged);
  });
});

describe('auditLog', () => {
  // The read of decrypted secrets was an info line: gone with LOG_LEVEL=warn or error, a common production setting.
  it('writes its line whatever LOG_LEVEL the service runs with, marked audit, with its fields and the trace ids', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    // Beside the service's own logger at LOG_LEVEL error, which writes no info line.
    const service = pino(pinoParams({ SERVICE_NAME: 'payout-profiles', LOG_LEVEL: 'error' }).pinoHttp as Options, { write: (line: string) => destination.write(line) });
    service.info('an info line of the service');
    Trace.run({ correlationId: 'c-1', causationId: 'r-1' }, () =>
      auditLog('payout-profiles', 'decrypted details of profile p1 read by the operator credential', { event: 'profile-details-read', profileId: 'p1' }, { write: (line: string) => destination.write(line) }),
    );
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      level: 30,
      service: 'payout-profiles',
      audit: true,
      event: 'profile-details-read',
      profileId: 'p1',
      correlationId: 'c-1',
      causationId: 'r-1',
      msg: 'decrypted details of profile p1 read by the operator credential',
    });
  });
});
