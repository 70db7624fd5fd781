export * from './kafka-helpers';
export * from './service-harness';
export * from './test-issuer';
export * from './infra/resolve';
export * from './infra/process';
export * from './smtp-test-server';
export * from './config-refusal';
export * from './stalling-proxy';
