import type { Infra } from './infra/resolve';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __infra?: Infra }).__infra?.stop();
}
