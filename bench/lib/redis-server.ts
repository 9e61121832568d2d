import fs from 'node:fs';

import { Redis } from 'ioredis';

import { startChildServer, type ChildServer } from './child-server.js';
import { withTimeout } from './deadline.js';
import { freePort } from './free-port.js';

/** Ports tried before giving up when another process takes the free port first. */
const PORT_ATTEMPTS = 3;
/** Longest wait for redis-server to accept connections, in milliseconds. */
const START_TIMEOUT_MS = 15_000;
/** Longest wait for one INFO answer, in milliseconds. */
const INFO_TIMEOUT_MS = 5_000;

/** A redis-server started by the bench. */
export interface BenchRedis {
  readonly url: string;
  readonly server: ChildServer;
  /** Calls per command since the server started (`INFO commandstats`), e.g. `{ publish: 12 }`. */
  commandCalls(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/**
 * Starts a local redis-server on a free port of 127.0.0.1 with its files in `dir`: AOF on with
 * `appendfsync everysec` (what ARCHITECTURE.md expects of a cluster's Redis), RDB snapshots off.
 */
export async function startRedis(dir: string): Promise<BenchRedis> {
  fs.mkdirSync(dir, { recursive: true });

  let lastError: unknown;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    try {
      const server = await startChildServer({
        label: 'redis',
        command: 'redis-server',
        // prettier-ignore
        args: [
          '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
          '--appendonly', 'yes', '--appendfsync', 'everysec', '--daemonize', 'no',
        ],
        readyLine: (line) => (line.includes('Ready to accept connections') ? port : undefined),
        startTimeoutMs: START_TIMEOUT_MS,
      });
      return running(server, `redis://127.0.0.1:${port}`);
    } catch (error) {
      lastError = error;
      if (!/address already in use/i.test((error as Error).message)) break;
    }
  }
  throw new Error(`could not start redis-server: ${(lastError as Error).message}`, {
    cause: lastError,
  });
}

/** Parses `INFO commandstats` into calls per command. */
export function parseCommandStats(info: string): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[match[1]!] = Number(match[2]);
  }
  return calls;
}

function running(server: ChildServer, url: string): BenchRedis {
  return {
    url,
    server,
    async commandCalls() {
      const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await withTimeout(client.connect(), INFO_TIMEOUT_MS, 'a connection to redis');
        const info = await withTimeout(client.info('commandstats'), INFO_TIMEOUT_MS, 'redis INFO');
        return parseCommandStats(info);
      } finally {
        client.disconnect();
      }
    },
    stop: () => server.stop(),
  };
}
