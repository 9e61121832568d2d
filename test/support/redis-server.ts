import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { Redis } from 'ioredis';
import { afterAll } from 'vitest';

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /**
   * Runs with `appendonly yes` and `appendfsync always`: every acknowledged write survives a
   * kill, as a cluster's Redis must be run.
   * @default false
   */
  appendOnly?: boolean;
  /** More `--name value` arguments, e.g. `['--cluster-enabled', 'yes']`. */
  extraArgs?: string[];
  /** Listen on this port instead of a free one (a cluster needs port + 10000 free too). */
  port?: number;
  /** Leave cleanup to the caller instead of an `afterAll` of the calling file. */
  manualCleanup?: boolean;
}

/** A redis-server process of a test, in its own temp folder. */
export interface TestRedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  /** The server's folder (AOF files, nodes.conf). */
  readonly dir: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** A new admin connection, closed with the server. */
  client(): Redis;
  /** Stops the server the way an operator would (SIGTERM: AOF flushed). */
  stop(): Promise<void>;
  /** Kills the server at once (SIGKILL): only what was fsynced survives. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and folder, with the same options. */
  restart(): Promise<void>;
  /** Kills the server, closes admin connections and deletes the folder. Safe to call twice. */
  cleanup(): Promise<void>;
}

/** A server that does not accept connections within this long failed to start. */
const STARTUP_TIMEOUT_MS = 15_000;
/** Another process may take the free port before Redis binds it: try this many ports. */
const PORT_ATTEMPTS = 3;
/** Lines of server output kept to explain a failed start. */
const OUTPUT_LINES_KEPT = 30;

/**
 * Starts `redis-server` on a free port of 127.0.0.1 in a fresh temp folder, without RDB
 * snapshots, and stops it and removes the folder after the calling test file.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<TestRedisServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-redis-'));
  let child: ChildProcess | undefined;
  let port = options.port ?? 0;

  for (let attempt = 1; ; attempt++) {
    port = options.port ?? (await freePort());
    try {
      child = await spawnServer(dir, port, options);
      break;
    } catch (error) {
      const portTaken = /already in use|Could not create server TCP/i.test(
        (error as Error).message,
      );
      if (options.port !== undefined || !portTaken || attempt === PORT_ATTEMPTS) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  const clients: Redis[] = [];
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);
  let cleaning: Promise<void> | undefined;

  const server: TestRedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    client() {
      const client = new Redis(port, '127.0.0.1', { lazyConnect: false, maxRetriesPerRequest: 2 });
      client.on('error', () => undefined);
      clients.push(client);
      return client;
    },
    async stop() {
      await signal(child, 'SIGTERM');
    },
    async kill() {
      await signal(child, 'SIGKILL');
    },
    async restart() {
      if (server.running) throw new Error('redis-server still runs: stop or kill it first');
      child = await spawnServer(dir, port, options);
    },
    cleanup() {
      cleaning ??= (async () => {
        process.off('exit', killOnExit);
        for (const client of clients) client.disconnect();
        await signal(child, 'SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
      })();
      return cleaning;
    },
  };
  if (!options.manualCleanup) afterAll(() => server.cleanup());
  return server;
}

/** A free TCP port of 127.0.0.1, below `max` (a cluster adds 10000 for its bus port). */
export function freePort(max = 65_535): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => (port <= max ? resolve(port) : resolve(freePort(max))));
    });
  });
}

function spawnServer(
  dir: string,
  port: number,
  options: RedisServerOptions,
): Promise<ChildProcess> {
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    options.appendOnly ? 'yes' : 'no',
    '--appendfsync',
    'always',
    '--protected-mode',
    'no',
    '--daemonize',
    'no',
    '--loglevel',
    'notice',
    ...(options.extraArgs ?? []),
  ];
  const child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = keepLastLines(child);

  return new Promise((resolve, reject) => {
    const fail = (reason: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`redis-server on port ${port} ${reason}: ${output()}`));
    };
    const timer = setTimeout(() => fail('did not start in time'), STARTUP_TIMEOUT_MS);
    child.on('error', (error) => fail(error.message));
    child.on('exit', (code, signalName) => fail(`exited (${code ?? signalName})`));
    const onOutput = () => {
      if (!output().includes('Ready to accept connections')) return;
      clearTimeout(timer);
      child.stdout!.off('data', onOutput);
      child.removeAllListeners('exit');
      resolve(child);
    };
    child.stdout!.on('data', onOutput);
  });
}

async function signal(child: ChildProcess | undefined, name: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(name);
  await exited;
}

function keepLastLines(child: ChildProcess): () => string {
  const lines: string[] = [];
  let partial = '';
  const collect = (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    lines.splice(0, Math.max(0, lines.length - OUTPUT_LINES_KEPT));
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return () => [...lines, partial].join('\n');
}
