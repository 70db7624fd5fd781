import express from 'express';
import pinoHttp, { Options } from 'pino-http';
import { Writable } from 'node:stream';
import request from 'supertest';
import { correlationMiddleware, pinoParams } from './logging';

/** The request log of an express app wired as the services wire it: correlation first, then pino-http. */
function appLogging(): { app: express.Express; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const options = pinoParams('widgets', 'info').pinoHttp as Options;
  const app = express();
  app.use(correlationMiddleware);
  app.use(pinoHttp(options, sink));
  app.get('/later', (_request, response) => {
    setTimeout(() => response.json({ ok: true }), 5);
  });
  return { app, lines };
}

describe('request logging', () => {
  it('writes one line per request with its correlation id, once, and the authorization header redacted', async () => {
    const { app, lines } = appLogging();
    await request(app).get('/later').set('x-correlation-id', 'corr-123').set('authorization', 'Bearer secret-token').expect(200);
    await new Promise((resolve) => setImmediate(resolve));

    const completed = lines.filter((line) => line.includes('request completed'));
    expect(completed).toHaveLength(1);
    const line = completed[0];
    expect(line.match(/"correlationId"/g)).toHaveLength(1);
    const entry = JSON.parse(line);
    expect(entry).toMatchObject({ service: 'widgets', correlationId: 'corr-123', req: { method: 'GET', url: '/later', id: 'corr-123' } });
    expect(line).not.toContain('secret-token');
  });

  it('gives a request without a usable correlation id a new one, in its log line and its answer', async () => {
    const { app, lines } = appLogging();
    const answer = await request(app).get('/later').set('x-correlation-id', 'bad id with spaces').expect(200);
    await new Promise((resolve) => setImmediate(resolve));

    const generated = answer.headers['x-correlation-id'];
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    const entry = JSON.parse(lines.find((line) => line.includes('request completed'))!);
    expect(entry.correlationId).toBe(generated);
  });
});
