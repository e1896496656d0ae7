/**
 * A TCP proxy on 127.0.0.1 (node:net) that can cut the network between its clients and a target,
 * the way a station's cable or Wi-Fi fails (issue 29's network cut), and restore it:
 *  - `refuse`: every open connection is destroyed and the port stops listening, so a new one gets
 *    ECONNREFUSED at once;
 *  - `blackhole`: open connections stay open but nothing passes either way any more, and new ones
 *    are accepted and never answered - a client learns of the cut only from its own timeouts.
 * Restoring listens again and forwards new connections; a connection blackholed stays dead (its
 * bytes are gone) until its client gives up on it.
 */
import { createServer, Socket, type Server } from 'node:net';

export type CutMode = 'refuse' | 'blackhole';

interface Pair {
  client: Socket;
  upstream?: Socket;
  dead: boolean;
}

export class TcpProxy {
  port = 0;
  private server?: Server;
  private mode: 'open' | CutMode = 'open';
  private readonly pairs = new Set<Pair>();
  /** Connections accepted; those accepted while cut (never answered); bytes lost in the blackhole (either way: a request, or the answer to one the target took). */
  readonly stats = { accepted: 0, blackholed: 0, swallowed: 0 };

  constructor(private readonly targetPort: number, private readonly targetHost = '127.0.0.1') {}

  get state(): 'open' | CutMode {
    return this.mode;
  }

  async start(): Promise<this> {
    await this.listen();
    return this;
  }

  private listen(): Promise<void> {
    const server = createServer((c) => this.accept(c));
    this.server = server;
    return new Promise((res, rej) => {
      server.once('error', rej);
      server.listen(this.port, '127.0.0.1', () => {
        this.port = (server.address() as { port: number }).port;
        res();
      });
    });
  }

  private accept(client: Socket): void {
    this.stats.accepted++;
    const p: Pair = { client, dead: this.mode !== 'open' };
    this.pairs.add(p);
    client.on('error', () => {});
    client.on('close', () => {
      p.upstream?.destroy();
      this.pairs.delete(p);
    });
    if (p.dead) {
      this.stats.blackholed++;
      client.on('data', (b) => (this.stats.swallowed += b.length));
      return;
    }
    const up = new Socket();
    p.upstream = up;
    up.on('error', () => client.destroy());
    up.on('close', () => client.destroy());
    up.connect(this.targetPort, this.targetHost);
    client.on('data', (b) => {
      if (!p.dead) up.write(b);
      else this.stats.swallowed += b.length;
    });
    up.on('data', (b) => {
      if (!p.dead) client.write(b);
      else this.stats.swallowed += b.length;
    });
  }

  async cut(mode: CutMode): Promise<void> {
    this.mode = mode;
    if (mode === 'blackhole') {
      for (const p of this.pairs) p.dead = true;
      return;
    }
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    await new Promise<void>((r) => this.server!.close(() => r()));
  }

  async restore(): Promise<void> {
    const was = this.mode;
    this.mode = 'open';
    if (was === 'refuse') await this.listen();
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    if (this.mode !== 'refuse') await new Promise<void>((r) => this.server!.close(() => r()));
  }
}
