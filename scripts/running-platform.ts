/**
 * The platform `npm start` runs from this checkout, as it wrote it in .local/platform.json, for the scripts that talk
 * to it (`npm run demo`, `npm run event`).
 */
import { kafkaBrokersFromEnv } from '@lib/platform';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceName } from '../test/e2e/platform';

export interface RunningPlatform {
  pid: number;
  state: 'starting' | 'ready';
  urls: Record<ServiceName, string>;
  mail: string;
  operatorKey: string;
  kafkaBrokers: string[];
}

/** The running platform; an Error saying what to do when it is not there (never started, stopped, killed) or not ready. */
export function runningPlatform(what: string): RunningPlatform {
  const notRunning = `The platform is not running here: start it with \`npm start\` (in another terminal), then ${what} again.`;
  let running: RunningPlatform;
  try {
    running = JSON.parse(readFileSync(join(__dirname, '..', '.local', 'platform.json'), 'utf8')) as RunningPlatform;
  } catch {
    throw new Error(notRunning);
  }
  // A file whose `npm start` is gone (killed before its cleanup) says nothing about a platform: "starting" would be a lie.
  if (!alive(running.pid)) throw new Error(notRunning);
  if (running.state !== 'ready') throw new Error(`The platform is still starting: ${what} again once \`npm start\` says it is ready.`);
  return running;
}

/** Whether a process with this pid exists (as start.js judges a platform.json left by a dead run). */
function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The brokers an operator's tool reaches: KAFKA_BROKERS (checked as a service checks it), or the running platform's. */
export function brokersFor(what: string): string[] {
  return kafkaBrokersFromEnv() ?? runningPlatform(`${what} (or set KAFKA_BROKERS)`).kafkaBrokers;
}
