/**
 * Shared by `npm start` and `npm run infra`: provisions the real servers and runs processes until Ctrl-C.
 * The provisioning code is TypeScript (libs/testing/src/infra), loaded through @swc-node/register.
 */
process.env.TS_NODE_PROJECT ??= require('node:path').join(__dirname, '..', 'tsconfig.json');
try {
  require.resolve('@swc-node/register');
} catch {
  // An install that left out the dev dependencies (NODE_ENV=production, --omit=dev): said so, not a stack trace.
  process.stderr.write(
    `@swc-node/register is not installed: run npm install${process.env.NODE_ENV === 'production' ? ' without NODE_ENV=production, which leaves out the dev dependencies npm start builds with' : ''}.\n`,
  );
  process.exit(1);
}
require('@swc-node/register');
const { resolveInfra } = require('../libs/testing/src/infra/resolve');
const { spawnServer, waitFor, freePort, tcpReachable, SERVICE_NODE_ARGS } = require('../libs/testing/src/infra/process');
const { buildServices } = require('../libs/testing/src/infra/build');
const { withLock } = require('../libs/testing/src/infra/lock');

module.exports = { resolveInfra, spawnServer, waitFor, freePort, tcpReachable, SERVICE_NODE_ARGS, buildServices, withLock };
