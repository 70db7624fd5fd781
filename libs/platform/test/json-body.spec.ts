import express, { NextFunction, Request, Response } from 'express';
import { AddressInfo, connect } from 'node:net';
import type { Server } from 'node:http';
import { Trace } from '@lib/messaging';
import { ProblemException } from '../src';
import { requireJsonBody } from '../src/http/json-body';
import { correlationMiddleware } from '../src/logging/logging';

/** The service apps' body handling (createServiceApp): requireJsonBody, then the JSON parser. */
describe('a request body that is not JSON, over HTTP', () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    const app = express();
    app.use(correlationMiddleware);
    app.use(requireJsonBody);
    app.use(express.json({ type: ['application/json', 'application/*+json'] }));
    app.post('/things', (request, response) => response.status(201).json({ body: request.body ?? null, correlationId: Trace.current()?.correlationId ?? null }));
    app.use((error: unknown, _request: Request, response: Response, _next: NextFunction) => {
      const status = error instanceof ProblemException ? error.getStatus() : 500;
      response.status(status).json({ status });
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise((resolve) => server.close(resolve)));

  /**
   * A POST whose body is sent chunked (Transfer-Encoding: chunked, no Content-Length), as a client streaming it does,
   * without a Content-Type: written on a socket, since fetch and node:http send an empty body with Content-Length: 0.
   */
  const chunked = (chunks: string[]) =>
    new Promise<number>((resolve, reject) => {
      const { port } = server.address() as AddressInfo;
      const socket = connect(port, '127.0.0.1');
      const body = [...chunks.filter((c) => c !== '').map((c) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`), '0\r\n\r\n'].join('');
      socket.write(`POST /things HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`);
      let answer = '';
      socket.on('data', (data) => (answer += data));
      socket.on('error', reject);
      socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1])));
    });

  it('takes an empty body sent chunked without a Content-Type as no body (a client streaming nothing)', async () => {
    expect(await chunked([])).toBe(201);
  });

  // The body's end arriving in a later packet: the handler runs from the stream's event, in the request's trace still.
  it("keeps the request's trace (its correlation id) when the empty body's end comes later", async () => {
    const correlationId = '0b0e6a52-1f4d-4c4b-9a57-3f6d2c7e9a10';
    const answer = await new Promise<string>((resolve, reject) => {
      const { port } = server.address() as AddressInfo;
      const socket = connect(port, '127.0.0.1');
      socket.write(`POST /things HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nX-Correlation-Id: ${correlationId}\r\nConnection: close\r\n\r\n`);
      setTimeout(() => socket.write('0\r\n\r\n'), 50);
      let text = '';
      socket.on('data', (data) => (text += data));
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 201/);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ correlationId });
  });

  it('refuses a body sent chunked without a Content-Type (415), however long, and answers the next request', async () => {
    expect(await chunked(['name=x'])).toBe(415);
    expect(await chunked(['a', 'b'.repeat(100_000)])).toBe(415);
    expect((await fetch(`${base}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })).status).toBe(201);
  });

  it('refuses a body of another type, and takes JSON and an empty body', async () => {
    expect((await fetch(`${base}/things`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })).status).toBe(415);
    const json = await fetch(`${base}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect({ status: json.status, body: await json.json() }).toMatchObject({ status: 201, body: { body: { a: 1 } } });
    expect((await fetch(`${base}/things`, { method: 'POST' })).status).toBe(201);
  });
});
