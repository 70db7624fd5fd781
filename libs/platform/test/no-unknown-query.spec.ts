import { CanActivate, Controller, Get, INestApplication, NotFoundException, Query, UseGuards } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { IsOptional, IsString } from 'class-validator';
import { ProblemFilter } from '../src';
import { NoUnknownQueryInterceptor } from '../src/http/no-unknown-query';

class Filter {
  @IsOptional()
  @IsString()
  state?: string;
}

/** A route's own guard, as identity's disabled development sign-in: it answers 404. */
class Disabled implements CanActivate {
  canActivate(): boolean {
    throw new NotFoundException();
  }
}

@Controller('things')
class ThingsController {
  @Get('disabled')
  @UseGuards(Disabled)
  disabled() {
    return { disabled: false };
  }

  @Get()
  list(@Query() filter: Filter) {
    return { filter };
  }

  @Get('one')
  one() {
    return { one: true };
  }

  @Get('named')
  named(@Query('state') state?: string) {
    return { state };
  }
}

describe('NoUnknownQueryInterceptor, over HTTP', () => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    const module = await Test.createTestingModule({
      controllers: [ThingsController],
      providers: [
        { provide: APP_INTERCEPTOR, useClass: NoUnknownQueryInterceptor },
        { provide: APP_FILTER, useClass: ProblemFilter },
      ],
    }).compile();
    app = module.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
  });

  afterAll(() => app.close());

  it('answers 400 problem+json naming every parameter sent to a handler that takes none', async () => {
    const response = await fetch(`${base}/things/one?colour=blue&size=2`);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(await response.json()).toMatchObject({
      status: 400,
      type: expect.stringMatching(/\/validation-error$/),
      errors: [
        { field: 'colour', message: 'property colour should not exist' },
        { field: 'size', message: 'property size should not exist' },
      ],
    });
  });

  it("runs after the route's own guards: a query string tells nothing of a route they refuse", async () => {
    const response = await fetch(`${base}/things/disabled?colour=blue`);
    expect(response.status).toBe(404);
  });

  it('lets through a handler without parameters called without any', async () => {
    const response = await fetch(`${base}/things/one`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ one: true });
  });

  it('leaves a handler with a @Query() DTO, or a named @Query field, to the validation pipe', async () => {
    expect((await fetch(`${base}/things?state=OPEN`)).status).toBe(200);
    const named = await fetch(`${base}/things/named?state=OPEN`);
    expect(named.status).toBe(200);
    expect(await named.json()).toEqual({ state: 'OPEN' });
  });

  // class-transformer skips these names when it makes the DTO, so the validation pipe never sees them to refuse.
  it("refuses, on a handler with a query DTO, parameters named as Object's own properties", async () => {
    const response = await fetch(`${base}/things?state=OPEN&toString=1&constructor=2&valueOf=3`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { errors: unknown }).errors).toEqual([
      { field: 'toString', message: 'property toString should not exist' },
      { field: 'constructor', message: 'property constructor should not exist' },
      { field: 'valueOf', message: 'property valueOf should not exist' },
    ]);
  });

  // The query parser drops these before anything reads the query: they are found in the URL itself.
  it.each([['things?state=OPEN&__proto__=1'], ['things?__proto__[x]=1'], ['things/one?__proto__=1']])('refuses __proto__, which the query parser drops (%s)', async (path) => {
    const response = await fetch(`${base}/${path}`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { errors: unknown }).errors).toEqual([{ field: '__proto__', message: 'property __proto__ should not exist' }]);
  });
});
