/**
 * Runs in each Jest worker before every test file: points KAFKA_BROKERS at this worker's own cluster (see
 * jest.global-setup.ts). JEST_WORKER_ID counts from 1; in band it is 1.
 */
const clusters = process.env.KAFKA_BROKERS_BY_WORKER?.split(' ').filter(Boolean) ?? [];
if (clusters.length > 0) {
  const worker = Math.max(1, Number(process.env.JEST_WORKER_ID ?? 1));
  process.env.KAFKA_BROKERS = clusters[(worker - 1) % clusters.length];
}
