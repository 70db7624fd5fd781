import { createServer, Server } from 'node:http';
import { AddressInfo, connect } from 'node:net';
import { answerClientErrors } from './client-error';

/** Sends raw bytes and reads everything the server answers until it closes the connection. */
function raw(server: Server, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.write(request);
  });
}

describe('requests Node refuses before the application sees them', () => {
  let server: Server;

  beforeAll(async () => {
    // Answers once the request's body is read (a body Node refuses is refused before that).
    server = createServer((request, response) => request.resume().on('end', () => response.end('ok')));
    answerClientErrors(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const parse = (answer: string) => {
    const [head, body] = answer.split('\r\n\r\n');
    return { statusLine: head.split('\r\n')[0], contentType: /content-type: (.*)/i.exec(head)?.[1], body: JSON.parse(body) };
  };

  it('a malformed request line: 400 problem+json, connection closed', async () => {
    const answer = parse(await raw(server, 'NOT A REQUEST\r\n\r\n'));
    expect(answer).toEqual({
      statusLine: 'HTTP/1.1 400 Bad Request',
      contentType: 'application/problem+json',
      body: { type: 'about:blank', title: 'Bad Request', status: 400, detail: 'The request is not valid HTTP.' },
    });
  });

  it('headers over the limit: 431 problem+json', async () => {
    const answer = parse(await raw(server, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(answer).toMatchObject({ statusLine: 'HTTP/1.1 431 Request Header Fields Too Large', contentType: 'application/problem+json', body: { status: 431 } });
  });

  it('chunk extensions over the limit: 413 problem+json, as Node answers them', async () => {
    const request = `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(20_000)}\r\na\r\n0\r\n\r\n`;
    expect(parse(await raw(server, request))).toMatchObject({ statusLine: 'HTTP/1.1 413 Payload Too Large', contentType: 'application/problem+json', body: { status: 413 } });
  });

  it('a valid request is untouched', async () => {
    expect(await raw(server, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*ok$/);
  });
});

describe('a request Node refuses while a response to it is already under way', () => {
  it('closes the connection without writing a status line into that response', async () => {
    // The answer starts before the body is read; the body never arrives in full within the request timeout.
    const server = createServer({ requestTimeout: 500, connectionsCheckingInterval: 100 }, (_, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.write('partial-body-');
    });
    answerClientErrors(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const answer = await raw(server, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc').catch((error: Error) => `error: ${error.message}`);
      expect(answer).toContain('partial-body-');
      expect(answer).not.toContain('Request Timeout');
      expect(answer.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
