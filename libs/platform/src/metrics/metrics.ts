import { Controller, Get, Header, Injectable, NestMiddleware } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import { histogramMetric } from '@lib/messaging';
import { collectDefaultMetrics, register } from 'prom-client';
import { Public } from '../auth/principal';

let defaultsCollected = false;
export function collectProcessMetrics(service: string): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  register.setDefaultLabels({ service });
  collectDefaultMetrics();
}

const httpDuration = histogramMetric({
  name: 'http_request_duration_seconds',
  help: 'HTTP request duration',
  labelNames: ['method', 'route', 'status'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
});

@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  use(request: Request, response: Response, next: NextFunction): void {
    const end = httpDuration.startTimer({ method: request.method });
    response.on('finish', () => {
      const route = (request.route?.path as string | undefined) ?? 'unmatched';
      end({ route: request.baseUrl + route, status: String(response.statusCode) });
    });
    next();
  }
}

@ApiExcludeController()
@Public()
@Controller('metrics')
export class MetricsController {
  @Get()
  @Header('Content-Type', register.contentType)
  metrics(): Promise<string> {
    return register.metrics();
  }
}
