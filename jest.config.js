/** One Jest run for every tier: unit specs beside the code, integration and end-to-end specs under test/. */
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      target: 'es2022',
      keepClassNames: true,
    },
    sourceMaps: 'inline',
  },
];

module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': swc },
  setupFiles: ['reflect-metadata', '<rootDir>/libs/testing/src/jest.worker-setup.ts'],
  moduleNameMapper: { '^@lib/([^/]+)(/.*)?$': '<rootDir>/libs/$1/src$2' },
  testMatch: ['<rootDir>/{libs,services}/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
  // Anchored at the checkout: a clone under a path holding one of these names (~/.local/src/platform) ignored every spec.
  testPathIgnorePatterns: ['<rootDir>/(?:.+/)?node_modules/', '<rootDir>/dist/', '<rootDir>/\\.local/'],
  globalSetup: '<rootDir>/libs/testing/src/jest.global-setup.ts',
  globalTeardown: '<rootDir>/libs/testing/src/jest.global-teardown.ts',
  testTimeout: 60_000,
  // A Kafka cluster per worker (README, Tests); one given by KAFKA_BROKERS is everyone's, so suites take turns on it.
  maxWorkers: process.env.KAFKA_BROKERS ? 1 : 2,
  // Kafka clients keep sockets for a moment after disconnect; do not let that hold the run open.
  forceExit: true,
};
