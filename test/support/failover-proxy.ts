import net from 'node:net';

import { cleanUpAfter } from './start-node.js';

/**
 * A TCP load balancer in front of a cluster's nodes, as an operator would put one (nginx with
 * `backup` servers): each new connection goes to the first node in its list that accepts it.
 * A node killed with SIGKILL refuses connections, so the clients it had reconnect through the
 * same proxy and land on the next live node. Bytes are passed through untouched (HTTP, REST and
 * WebSocket alike), and a connection whose node dies is cut at once, as a real balancer does.
 */

/** A running proxy. */
export interface FailoverProxy {
  /** `http://127.0.0.1:PORT` of the proxy. */
  readonly url: string;
  readonly port: number;
  /** Upstream port of every connection accepted so far, in order. */
  readonly routed: readonly number[];
  /** Stops accepting and cuts every connection. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts a proxy on a free port of 127.0.0.1 that sends each connection to the first of
 * `upstreamPorts` (on 127.0.0.1) that accepts it. Closed when the test finishes, or after the
 * file when started from a hook.
 */
export async function startFailoverProxy(upstreamPorts: readonly number[]): Promise<FailoverProxy> {
  const sockets = new Set<net.Socket>();
  const routed: number[] = [];

  const server = net.createServer((downstream) => {
    sockets.add(downstream);
    downstream.on('close', () => sockets.delete(downstream));
    downstream.on('error', () => downstream.destroy());
    // Bytes the client sends before the upstream is chosen wait in the socket's buffer.
    downstream.pause();
    void connectFirst(upstreamPorts).then((upstream) => {
      if (!upstream || downstream.destroyed) {
        upstream?.destroy();
        downstream.destroy();
        return;
      }
      routed.push(upstream.remotePort!);
      sockets.add(upstream);
      const cut = () => {
        upstream.destroy();
        downstream.destroy();
      };
      upstream.on('close', cut);
      upstream.on('error', cut);
      downstream.on('close', cut);
      upstream.pipe(downstream);
      downstream.pipe(upstream);
      downstream.resume();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;

  let closing: Promise<void> | undefined;
  const proxy: FailoverProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    routed,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
  cleanUpAfter(() => proxy.close());
  return proxy;
}

/** Connects to the first port that accepts, or resolves undefined when none does. */
async function connectFirst(ports: readonly number[]): Promise<net.Socket | undefined> {
  for (const port of ports) {
    const socket = await new Promise<net.Socket | undefined>((resolve) => {
      const attempt = net.connect({ port, host: '127.0.0.1' });
      attempt.once('connect', () => {
        attempt.removeAllListeners('error');
        resolve(attempt);
      });
      attempt.once('error', () => {
        attempt.destroy();
        resolve(undefined);
      });
    });
    if (socket) return socket;
  }
  return undefined;
}
