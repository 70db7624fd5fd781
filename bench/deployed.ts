import { PROJECT_ROOT } from '@lib/testing';
import { loadAll } from 'js-yaml';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a service is deployed with (deploy/k8s/<service>.yaml), for a benchmark to run it as it runs in production. */
export interface Deployed {
  /** Its Deployment's NODE_OPTIONS, split (the old space's size: the heap limit the garbage collector works to). */
  nodeOptions: string[];
  /** Its ConfigMap's LOG_LEVEL (at `info`, every HTTP request is a log line). */
  logLevel?: string;
}

export function deployed(service: string): Deployed {
  const docs = loadAll(readFileSync(join(PROJECT_ROOT, 'deploy', 'k8s', `${service}.yaml`), 'utf8')) as Array<{ kind?: string; spec?: any; data?: Record<string, string> }>;
  const container = docs.find((doc) => doc?.kind === 'Deployment')?.spec?.template?.spec?.containers?.[0];
  const nodeOptions = (container?.env as Array<{ name: string; value?: string }> | undefined)?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
  const logLevel = docs.find((doc) => doc?.kind === 'ConfigMap' && doc.data?.LOG_LEVEL)?.data?.LOG_LEVEL;
  return { nodeOptions: nodeOptions.split(' ').filter(Boolean), ...(logLevel && { logLevel }) };
}
