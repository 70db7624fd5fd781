import express, { NextFunction, Request, Response } from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { ProblemException } from '../src';
import { noConditionalGet } from '../src/http/conditional-requests';

/** The service apps' handling of conditional headers (createServiceApp mounts noConditionalGet before any route; a
 * service's own spec sends one to a real write: payout-profiles' bad-input spec). */
describe('conditional requests, over HTTP', () => {
  let server: Server;
  let base: string;
  const seen: Array<string | undefined> = [];

  beforeAll(async () => {
    const app = express();
    app.use(noConditionalGet);
    app.get('/things/1', (request, response) => {
      seen.push(request.headers['if-none-match']);
      response.setHeader('ETag', '"3"');
      response.json({ version: 3 });
    });
    app.put('/things/1', (_request, response) => void response.json({ replaced: true }));
    app.use((error: unknown, _request: Request, response: Response, _next: NextFunction) => {
      const status = error instanceof ProblemException ? error.getStatus() : 500;
      response.status(status).json({ status, problem: error instanceof ProblemException ? { ...(error.getResponse() as object), ...error.extensions } : null });
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('answers a read in full whatever If-None-Match says (no 304: the ETag is a version, not a cache validator)', async () => {
    const response = await fetch(`${base}/things/1`, { headers: { 'if-none-match': '"3"' } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ version: 3 });
    expect(seen.at(-1)).toBeUndefined();
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  it.each([
    ['If-None-Match', '*'],
    ['If-None-Match', '"3"'],
    ['If-Unmodified-Since', 'Sun, 06 Dec 2026 10:00:00 GMT'],
  ])('refuses a write with %s: %s (400 naming it), rather than write as if it were not sent', async (name, value) => {
    const response = await fetch(`${base}/things/1`, { method: 'PUT', headers: { [name]: value } });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { problem: unknown };
    expect(JSON.stringify(body.problem)).toContain(name);
  });

  it('takes a write without it', async () => {
    const response = await fetch(`${base}/things/1`, { method: 'PUT' });
    expect(response.status).toBe(200);
  });
});
