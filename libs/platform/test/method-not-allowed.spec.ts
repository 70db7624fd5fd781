import { Controller, Get, INestApplication, NotFoundException, Param, Post } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { ProblemFilter } from '../src';

@Controller('things')
class ThingsController {
  @Get()
  list() {
    return [];
  }

  @Post()
  create() {
    return { created: true };
  }

  @Get(':id')
  one(@Param('id') id: string) {
    if (id === 'missing') throw new NotFoundException(`Thing ${id} was not found.`);
    return { id };
  }
}

describe('a method a path does not answer, over HTTP', () => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    const module = await Test.createTestingModule({ controllers: [ThingsController], providers: [{ provide: APP_FILTER, useClass: ProblemFilter }] }).compile();
    app = module.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
  });

  afterAll(() => app.close());

  const call = async (method: string, path: string) => {
    const response = await fetch(`${base}${path}`, { method });
    return { status: response.status, allow: response.headers.get('allow'), type: response.headers.get('content-type'), body: await response.json() };
  };

  it('answers 405 with the methods it does answer in Allow, as problem+json', async () => {
    const answer = await call('DELETE', '/things');
    expect(answer).toMatchObject({ status: 405, allow: 'GET, HEAD, POST', body: { status: 405, title: 'Method not allowed', detail: 'DELETE is not allowed on /things; it answers GET, HEAD, POST.' } });
    expect(answer.type).toContain('application/problem+json');
    expect(await call('PUT', '/things/7')).toMatchObject({ status: 405, allow: 'GET, HEAD' });
  });

  it('still answers 404 for a path no route has, and for a handler\'s own 404', async () => {
    expect(await call('DELETE', '/nowhere')).toMatchObject({ status: 404, allow: null, body: { status: 404 } });
    expect(await call('GET', '/things/missing')).toMatchObject({ status: 404, allow: null, body: { detail: 'Thing missing was not found.' } });
    expect(await call('GET', '/things/7')).toMatchObject({ status: 200, body: { id: '7' } });
  });
});
