import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { Redis } from 'ioredis';
import { afterAll, onTestFinished } from 'vitest';

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
/** Every server folder starts with this, so that a later run can find a dead run's leftovers. */
const DIR_PREFIX = 'weft-redis-';

/** Servers of this test file not cleaned up yet. */
const liveServers = new Set<TestRedisServer>();

// Registered while the importing test file is collected: vitest ignores an afterAll that a
// running hook registers, and a worker that exits runs no 'exit' handlers.
afterAll(async () => {
  await Promise.all([...liveServers].map((server) => server.cleanup()));
});

/**
 * Starts `redis-server` on a free port of 127.0.0.1 in a fresh temp folder, without RDB
 * snapshots. It is killed and its folder removed when the calling test ends, or after the file
 * when started from a hook. First kills what dead test runs left behind.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<TestRedisServer> {
  removeStaleServers();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), DIR_PREFIX));
  fs.writeFileSync(path.join(dir, 'owner'), String(process.pid));
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
        liveServers.delete(server);
        for (const client of clients) client.disconnect();
        await signal(child, 'SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
      })();
      return cleaning;
    },
  };
  liveServers.add(server);
  try {
    onTestFinished(() => server.cleanup());
  } catch {
    // Started from a hook: the file-level afterAll above cleans up.
  }
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
  fs.writeFileSync(path.join(dir, 'server.pid'), String(child.pid));
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

/**
 * Kills the servers of test runs whose worker died without cleanup (vitest ends workers without
 * 'exit' handlers) and removes their folders. Folders of live workers are left alone.
 */
function removeStaleServers(): void {
  const tmp = os.tmpdir();
  for (const entry of fs.readdirSync(tmp)) {
    if (!entry.startsWith(DIR_PREFIX)) continue;
    const dir = path.join(tmp, entry);
    const owner = readPid(path.join(dir, 'owner'));
    if (owner === undefined || owner === process.pid || isAlive(owner)) continue;

    const serverPid = readPid(path.join(dir, 'server.pid'));
    if (serverPid !== undefined && isAlive(serverPid) && cwdOf(serverPid) === dir) {
      process.kill(serverPid, 'SIGKILL');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function cwdOf(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
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
