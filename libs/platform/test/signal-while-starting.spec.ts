import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, Socket } from 'node:net';
import { join } from 'node:path';

// A real service process (identity's main.ts, runService), stopped while it is still being created: it waits for a
// database that accepts the connection and never answers. node as a container's PID 1 is sent no signal it has no
// handler for, so one arriving then must find runService's handler (here, outside a container, the default action would
// kill the process instead: exit by the signal, not 0).
const root = join(__dirname, '..', '..', '..');

it('a service sent SIGTERM while it is being created (waiting for its database) exits at once with 0, saying so', async () => {
  const sockets: Socket[] = [];
  const silentDatabase = createServer((socket) => void sockets.push(socket));
  silentDatabase.listen(0, '127.0.0.1');
  await once(silentDatabase, 'listening');
  const { port } = silentDatabase.address() as { port: number };
  const child = spawn(process.execPath, ['-r', '@swc-node/register', 'services/identity/src/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      MONGO_URL: `mongodb://127.0.0.1:${port}/`,
      KAFKA_BROKERS: '127.0.0.1:1',
      PORT: '39997',
      JWT_ISSUER: 'http://issuer.test',
      OPERATOR_TOKEN: 'signal-while-starting-operator',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  child.stdout.resume();
  try {
    // The database's first connection: runService is creating the application.
    await once(silentDatabase, 'connection');
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(stderr).toContain('SIGTERM while the service was being created: nothing started yet, exiting');
  } finally {
    child.kill('SIGKILL');
    for (const socket of sockets) socket.destroy();
    silentDatabase.close();
  }
}, 60_000);
