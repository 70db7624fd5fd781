import { ProblemFilter, Problems } from '../src';

/** The error body-parser passes on for a body that is not JSON: the parser's own SyntaxError, with status 400. */
function parseError(body: string): SyntaxError {
  try {
    JSON.parse(body);
  } catch (error) {
    return Object.assign(error as SyntaxError, { status: 400 });
  }
  throw new Error('the body parsed');
}

describe('ProblemFilter, a malformed JSON body', () => {
  const filter = new ProblemFilter();

  it('answers 400 malformed-body without quoting the body, which may hold a secret', () => {
    const error = parseError('{"taxId": 987654321x}');
    const problem = filter.toProblem(error);
    expect(problem).toMatchObject({ status: 400, title: 'Malformed JSON body', type: expect.stringMatching(/malformed-body$/) });
    expect(problem.detail).toMatch(/^The request body is not valid JSON/);
    expect(problem.detail).not.toContain('987654321');
    expect(JSON.stringify(problem)).not.toContain('987654321');
  });

  it('says a body that is JSON but no object (strict parsing: null, a number, a string) must be an object', () => {
    // body-parser's strict mode refuses these with an error like a parse error's, keeping the raw body on it.
    const refused = (body: string) => Object.assign(new SyntaxError('Unexpected token n in JSON at position 0'), { status: 400, body });
    expect(filter.toProblem(refused('null'))).toMatchObject({ status: 400, type: expect.stringMatching(/malformed-body$/), detail: 'The request body must be a JSON object, not null.' });
    expect(filter.toProblem(refused(' 42 ')).detail).toBe('The request body must be a JSON object, not a number.');
    expect(filter.toProblem(refused('"987654321"')).detail).toBe('The request body must be a JSON object, not a string.');
    expect(filter.toProblem(refused('nul')).detail).toBe('The request body is not valid JSON (at position 0).');
  });

  it('keeps the position where the parser gives one', () => {
    const error = Object.assign(new SyntaxError('Unexpected token } in JSON at position 12'), { status: 400 });
    expect(filter.toProblem(error).detail).toBe('The request body is not valid JSON (at position 12).');
  });
});

// The body parser's other refusals (http-errors with a `type`), typed like every other problem of the platform.
describe('ProblemFilter, a body the parser refuses', () => {
  const filter = new ProblemFilter();
  const refused = (status: number, type: string, extra: object = {}) => Object.assign(new Error('request entity too large'), { status, type, ...extra });

  it('answers 413 body-too-large naming the limit, and 400 request-aborted, 415 for a charset or encoding it does not read', () => {
    expect(filter.toProblem(refused(413, 'entity.too.large', { limit: 1_048_576, length: 2_000_000 }))).toEqual({
      type: expect.stringMatching(/\/body-too-large$/),
      title: 'Request body too large',
      status: 413,
      detail: 'The request body is larger than the 1048576 bytes a request may send.',
    });
    expect(filter.toProblem(refused(400, 'request.aborted'))).toMatchObject({ status: 400, type: expect.stringMatching(/\/request-aborted$/) });
    expect(filter.toProblem(refused(415, 'charset.unsupported', { charset: 'latin1' }))).toMatchObject({ status: 415, type: expect.stringMatching(/\/unsupported-media-type$/), detail: 'Send the body as JSON in UTF-8, not latin1.' });
    expect(filter.toProblem(refused(415, 'encoding.unsupported', { encoding: 'br' }))).toMatchObject({ status: 415, type: expect.stringMatching(/\/unsupported-media-type$/), detail: 'Send the body without Content-Encoding br (gzip and deflate are read).' });
  });
});

describe('ProblemFilter, an error no use case mapped', () => {
  // A duplicate key error quotes the key's values (a user's email address): the 500 is logged without them.
  it('is logged with its stack, without the values a duplicate key error quotes', () => {
    const filter = new ProblemFilter();
    const logged: string[] = [];
    jest.spyOn((filter as unknown as { logger: { error: (m: string) => void } }).logger, 'error').mockImplementation((message) => void logged.push(message));
    const error = Object.assign(new Error('E11000 duplicate key error collection: identity.users index: partnerId_1_emailKey_1 dup key: { partnerId: "P1", emailKey: "alice@contoso.example" }'), { code: 11000 });
    const response = { statusCode: 0, headers: {} as Record<string, string>, status(code: number) { this.statusCode = code; return this; }, type() { return this; }, send() { return this; }, setHeader() {} };
    const host = { getType: () => 'http', switchToHttp: () => ({ getRequest: () => ({ method: 'POST', originalUrl: '/v1/users', path: '/v1/users' }), getResponse: () => response }) };
    filter.catch(error, host as never);
    expect(response.statusCode).toBe(500);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('index: partnerId_1_emailKey_1 dup key: (values removed)');
    expect(logged[0]).not.toContain('alice@contoso.example');
    expect(logged[0]).toMatch(/\n\s+at /); // the stack stays
  });
});

describe('ProblemFilter, a database or broker that did not answer', () => {
  const answer = (filter: ProblemFilter, error: unknown) => {
    const response = {
      statusCode: 0,
      headers: {} as Record<string, string>,
      body: '',
      status(code: number) { this.statusCode = code; return this; },
      type() { return this; },
      send(body: string) { this.body = body; return this; },
      setHeader(name: string, value: string) { this.headers[name] = value; },
    };
    const host = { getType: () => 'http', switchToHttp: () => ({ getRequest: () => ({ method: 'POST', originalUrl: '/v1/things', path: '/v1/things' }), getResponse: () => response }) };
    filter.catch(error, host as never);
    return response;
  };

  it('answers 503 dependency-unavailable with Retry-After, also when the driver wraps the network error; one warning without a stack, not an error per request', () => {
    const filter = new ProblemFilter();
    const logged = { error: [] as string[], warn: [] as string[] };
    const logger = (filter as unknown as { logger: Record<'error' | 'warn', (m: string) => void> }).logger;
    jest.spyOn(logger, 'error').mockImplementation((message) => void logged.error.push(message));
    jest.spyOn(logger, 'warn').mockImplementation((message) => void logged.warn.push(message));
    const selection = Object.assign(new Error('Server selection timed out after 5000 ms'), { name: 'MongoServerSelectionError' });
    const wrapped = Object.assign(new Error('bulk write failed'), { name: 'MongoBulkWriteError', errorResponse: Object.assign(new Error('connection reset'), { name: 'MongoNetworkError' }) });
    for (const error of [selection, wrapped, selection]) {
      const response = answer(filter, error);
      expect(response.statusCode).toBe(503);
      expect(response.headers['Retry-After']).toBe('5');
      expect(JSON.parse(response.body)).toMatchObject({ status: 503, type: expect.stringMatching(/\/dependency-unavailable$/), instance: '/v1/things' });
    }
    expect(logged.error).toEqual([]);
    expect(logged.warn).toHaveLength(1);
    expect(logged.warn[0]).toMatch(/MongoServerSelectionError: Server selection timed out/);
    expect(logged.warn[0]).not.toMatch(/\n\s+at /);
  });

  it('answers a busy 409 with Retry-After, as every 409 is documented, and keeps a longer wait set over it', () => {
    const filter = new ProblemFilter();
    const busy = answer(filter, Problems.busy('The enrollment kept changing; try again.'));
    expect(busy.statusCode).toBe(409);
    expect(busy.headers['Retry-After']).toBe('1');
    expect(answer(filter, Problems.busy('A rollover is running.').retryAfter(15)).headers['Retry-After']).toBe('15');
  });

  it('still answers another error a plain 500', () => {
    const filter = new ProblemFilter();
    jest.spyOn((filter as unknown as { logger: { error: (m: string) => void } }).logger, 'error').mockImplementation(() => undefined);
    const response = answer(filter, new TypeError("Cannot read properties of undefined (reading 'x')"));
    expect(response.statusCode).toBe(500);
    expect(response.headers['Retry-After']).toBeUndefined();
  });
});
