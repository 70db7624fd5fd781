import { closeService, createServiceApp, startServiceApp } from '@lib/platform';
import { Type } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { randomBytes } from 'node:crypto';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PROJECT_ROOT } from './infra/resolve';
import { startGroupAtEnd } from './kafka-helpers';

export const OPERATOR_KEY = 'test-operator-key';

export interface RunningService {
  app: NestExpressApplication;
  url: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** A database name no other test uses, so tests share one server without seeing each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix.replace(/-/g, '_')}_${randomBytes(5).toString('hex')}`;
}

/**
 * A folder of its own for a spec's server (a broker of its own, a gate file), under the run's data folder (TEST_RUN_DIR,
 * from the global setup): a run killed before the spec removed it leaves it where the next run removes the whole run's
 * folder (`.local/run/<name>-<pid>` of a dead pid). Under `.local/run/` outside a run.
 */
export function runDir(prefix: string): string {
  return join(process.env.TEST_RUN_DIR ?? join(PROJECT_ROOT, '.local', 'run'), uniqueName(prefix));
}

/** The boot under way (bootService): the next one waits for it. */
let booting: Promise<unknown> = Promise.resolve();

/**
 * Boots a service in this process against the real broker and database of the run (from the global setup),
 * listening on a free port, exactly as main.ts does. Settings are given as environment variables, as in production.
 */
export async function bootService(
  module: Type<unknown>,
  {
    name,
    env = {},
    startAtEndOf,
  }: {
    name: string;
    env?: Record<string, string>;
    /** Topics whose history this service's new consumer group skips (see startGroupAtEnd). */
    startAtEndOf?: string[];
  },
): Promise<RunningService> {
  const settings: Record<string, string> = {
    MONGO_DB: uniqueName(name),
    KAFKA_GROUP_ID: uniqueName(name),
    OPERATOR_TOKEN: OPERATOR_KEY,
    LOG_LEVEL: 'warn',
    KAFKA_RETRY_BACKOFF_MS: '50',
    OUTBOX_RELAY_INTERVAL_MS: '200',
    OUTBOX_SWEEP_INTERVAL_MS: '200',
    ...env,
  };
  if (startAtEndOf?.length) await startGroupAtEnd(settings.KAFKA_GROUP_ID, startAtEndOf);
  // One boot at a time: its settings are process.env while it reads them, which a boot started alongside (Promise.all)
  // would change under it, and restore out of order.
  const boot = booting.then(async () => {
    const saved = { ...process.env };
    Object.assign(process.env, settings);
    try {
      const started = await createServiceApp(module, { logs: process.env.TEST_LOGS === 'true' });
      await startServiceApp(started, 0);
      return started;
    } finally {
      process.env = saved;
    }
  });
  booting = boot.catch(() => undefined);
  const app: NestExpressApplication = await boot;
  const { port } = app.getHttpServer().address() as AddressInfo;
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    env: settings,
    close: () => closeService(app),
  };
}

/** The samples of `name` on a service's /metrics (Prometheus text), each with its labels. */
export async function metricSamples(service: Pick<RunningService, 'url'>, name: string): Promise<Array<{ labels: Record<string, string>; value: number }>> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const found: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, key, value]) => [key, value]));
    found.push({ labels, value: Number(match[3]) });
  }
  return found;
}
