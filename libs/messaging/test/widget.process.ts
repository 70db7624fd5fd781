/** The widget service (widget.app.ts) as a process of its own, as a deployed replica runs: for kill -9 and group tests. */
import { OPERATOR_KEY, PROJECT_ROOT, spawnServer, TestIssuer } from '@lib/testing';
import { join } from 'node:path';

export function spawnWidget(options: { issuer: TestIssuer; port: number; db: string; groupId: string; logName: string; env?: Record<string, string> }) {
  const { issuer, port, db, groupId, logName, env = {} } = options;
  return spawnServer(process.execPath, ['-r', '@swc-node/register', 'libs/messaging/test/widget.main.ts'], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      ...issuer.env(),
      PORT: String(port),
      MONGO_DB: db,
      KAFKA_GROUP_ID: groupId,
      OPERATOR_TOKEN: OPERATOR_KEY,
      LOG_LEVEL: 'warn',
      TS_NODE_PROJECT: join(PROJECT_ROOT, 'tsconfig.json'),
      ...env,
    },
    logFile: join(PROJECT_ROOT, '.local', 'logs', `${logName}.log`),
  });
}
