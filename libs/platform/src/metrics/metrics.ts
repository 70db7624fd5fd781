import { CanActivate, Controller, ExecutionContext, Get, Header, Inject, Injectable, NestMiddleware, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import { histogramMetric } from '@lib/messaging';
import { collectDefaultMetrics, register } from 'prom-client';
import { hasBearerKey, unauthorized } from '../auth/auth.guard';
import { Public } from '../auth/principal';
import { CONFIG } from '../config/config';
import type { PlatformConfig } from '../platform.module';

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
      // A path no route matched has no route, or the catch-all the logging middleware is mounted on (`/*`).
      const path = request.route?.path as string | undefined;
      const route = path === undefined || path === '/*' ? 'unmatched' : path;
      end({ route: request.baseUrl + route, status: String(response.statusCode) });
    });
    next();
  }
}

/** The METRICS_TOKEN check, a guard: it answers before the query's check (a 401 tells nothing of the route). */
@Injectable()
class MetricsTokenGuard implements CanActivate {
  constructor(@Inject(CONFIG) private readonly config: Pick<PlatformConfig, 'METRICS_TOKEN'>) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<Request>();
    if (this.config.METRICS_TOKEN && !hasBearerKey(request, this.config.METRICS_TOKEN)) {
      throw unauthorized('Send the metrics credential (METRICS_TOKEN): Authorization: Bearer <token>.', METRICS_CHALLENGE);
    }
    return true;
  }
}

/**
 * Prometheus' scrape. Open unless METRICS_TOKEN is set; then only a scraper sending it as a bearer token reads it
 * (Prometheus: `authorization: { credentials_file: ... }` in the scrape job), others get 401. The series name no
 * partner or user, but they tell whoever reads them how busy and how far behind each service is.
 */
@ApiExcludeController()
@Public()
@UseGuards(MetricsTokenGuard)
@Controller('metrics')
export class MetricsController {
  @Get()
  @Header('Content-Type', register.contentType)
  metrics(): Promise<string> {
    return register.metrics();
  }
}

const METRICS_CHALLENGE = 'Bearer realm="metrics"';
