import { INestApplication } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { baseConfigSpec, CONFIG, ConfigError, loadConfig, MetricsController, ProblemFilter } from '../src';
import { NoUnknownQueryInterceptor } from '../src/http/no-unknown-query';

const required = {
  MONGO_URL: 'mongodb://127.0.0.1:27017/',
  KAFKA_BROKERS: '127.0.0.1:9092',
  JWT_ISSUER: 'https://issuer.test',
  JWKS_URL: 'https://issuer.test/jwks',
  OPERATOR_TOKEN: 'the-operator-key-0001',
};
const load = (METRICS_TOKEN?: string) => loadConfig(baseConfigSpec('svc'), { ...required, ...(METRICS_TOKEN === undefined ? {} : { METRICS_TOKEN }) });

describe('METRICS_TOKEN', () => {
  it('is empty by default, and may be set empty', () => {
    expect(load().METRICS_TOKEN).toBe('');
    expect(load('').METRICS_TOKEN).toBe('');
  });

  it.each([['short-key'], ['   '], [' a-metrics-key-of-sufficient-length'], ['a-metrics-key-of-sufficient-length\n']])('a service does not start with %j', (token) => {
    expect(() => load(token)).toThrow(ConfigError);
    expect(() => load(token)).toThrow(/METRICS_TOKEN \(must/);
  });
});

describe('/metrics over HTTP', () => {
  const token = 'the-metrics-key-0001';
  let app: INestApplication;

  const start = async (METRICS_TOKEN: string) => {
    const module = await Test.createTestingModule({
      controllers: [MetricsController],
      providers: [
        { provide: APP_FILTER, useClass: ProblemFilter },
        { provide: APP_INTERCEPTOR, useClass: NoUnknownQueryInterceptor },
        { provide: CONFIG, useValue: { METRICS_TOKEN } },
      ],
    }).compile();
    app = module.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    return app.getUrl();
  };
  const scrape = async (base: string, authorization?: string, query = '') => {
    const response = await fetch(`${base}/metrics${query}`, { headers: authorization === undefined ? {} : { authorization } });
    return { status: response.status, type: response.headers.get('content-type'), challenge: response.headers.get('www-authenticate'), body: await response.text() };
  };

  afterEach(() => app.close());

  it('is open without METRICS_TOKEN', async () => {
    const base = await start('');
    const open = await scrape(base);
    expect(open.status).toBe(200);
    expect(open.type).toMatch(/^text\/plain/);
  });

  it('with METRICS_TOKEN, answers only the bearer of it; others get a 401 problem with the challenge', async () => {
    const base = await start(token);
    for (const authorization of [undefined, '', `Bearer ${token}x`, `Bearer the-metrics-key-0002`, token, `Basic ${token}`]) {
      const refused = await scrape(base, authorization);
      expect({ authorization, status: refused.status, type: refused.type, challenge: refused.challenge }).toEqual({
        authorization,
        status: 401,
        type: expect.stringMatching(/^application\/problem\+json/),
        challenge: 'Bearer realm="metrics"',
      });
      expect(JSON.parse(refused.body)).toMatchObject({ status: 401, detail: expect.stringContaining('METRICS_TOKEN') });
      expect(refused.body).not.toContain('process_cpu');
    }
    const read = await scrape(base, `Bearer ${token}`);
    expect(read.status).toBe(200);
    expect(read.type).toMatch(/^text\/plain/);
    expect((await scrape(base, `bearer  ${token}`)).status).toBe(200);
    // The credential is checked first: a query string gets a 401 without it, its own 400 with it.
    expect((await scrape(base, undefined, '?x=1')).status).toBe(401);
    expect((await scrape(base, `Bearer ${token}`, '?x=1')).status).toBe(400);
  });
});
