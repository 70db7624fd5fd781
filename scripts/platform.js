/**
 * Shared by `npm start` and `npm run infra`: provisions the real servers and runs processes until Ctrl-C.
 * The provisioning code is TypeScript (libs/testing/src/infra), loaded through @swc-node/register.
 */
process.env.TS_NODE_PROJECT ??= require('node:path').join(__dirname, '..', 'tsconfig.json');
require('@swc-node/register');
const { resolveInfra } = require('../libs/testing/src/infra/resolve');
const { spawnServer, waitFor, freePort, tcpReachable, SERVICE_NODE_ARGS } = require('../libs/testing/src/infra/process');
const { buildServices } = require('../libs/testing/src/infra/build');
const { withLock } = require('../libs/testing/src/infra/lock');

module.exports = { resolveInfra, spawnServer, waitFor, freePort, tcpReachable, SERVICE_NODE_ARGS, buildServices, withLock };
