import { AddressInfo, createServer, Server, Socket } from 'node:net';

/**
 * A TCP proxy to `target` ("host:port") that can stop passing bytes on without closing anything: what a network
 * partition or a hung host looks like to a client (its connections stay open, nothing answers), unlike a stopped
 * server, whose connections are refused or reset. What arrives while stalled is held, and passed on once resumed.
 */
export class StallingProxy {
  private server?: Server;
  private stalled = false;
  private readonly held: Array<() => void> = [];
  private readonly sockets = new Set<Socket>();

  constructor(private readonly target: string) {}

  /** Listens on 127.0.0.1; answers `host:port` of the proxy. */
  async start(): Promise<string> {
    const [host, port] = [this.target.slice(0, this.target.lastIndexOf(':')), Number(this.target.slice(this.target.lastIndexOf(':') + 1))];
    this.server = createServer((client) => {
      const upstream = new Socket();
      upstream.connect(port, host);
      for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
        this.sockets.add(from);
        from.on('data', (chunk) => this.pass(() => to.write(chunk)));
        from.on('error', () => to.destroy());
        from.on('close', () => {
          this.sockets.delete(from);
          to.destroy();
        });
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stall(): void {
    this.stalled = true;
  }

  resume(): void {
    this.stalled = false;
    for (const write of this.held.splice(0)) write();
  }

  async stop(): Promise<void> {
    this.resume();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private pass(write: () => void): void {
    if (this.stalled) this.held.push(write);
    else write();
  }
}
