import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startChildServer, type ChildServer } from './child-server.js';
import { ProcSampler, type WatchedProcess } from './proc-sampler.js';
import { startRedis, type BenchRedis } from './redis-server.js';
import { mintAccessToken } from './tokens.js';

/** The repository root (bench/lib/ is two levels below it). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Longest wait for a node to log that it listens, in milliseconds (tsx compiles on start). */
const NODE_START_TIMEOUT_MS = 60_000;
/** Configuration names a node reads; the parent's values never leak into a bench node. */
const WEFT_ENV_NAMES = ['PORT', 'HOST', 'SECRET_KEY', 'DATA_DIR', 'DATABASE_URL', 'REDIS_URL'];

/** What is being measured: Weft or the reference relay. */
export type SystemKind = 'weft' | 'relay';

/** A running system under test, local or remote. */
export interface SystemUnderTest {
  readonly kind: SystemKind;
  /** For the report, e.g. `weft ×2 + redis`. */
  readonly label: string;
  /** `http://127.0.0.1:port` of each node; clients spread over them round-robin. */
  readonly urls: readonly string[];
  /** Server processes sampled for CPU and memory (empty when nothing can be sampled). */
  readonly sampler: ProcSampler;
  /** The local Redis, when the bench started one. */
  readonly redis?: BenchRedis;
  /** How the nodes run, for the report (`dist`, `tsx`, `external`). */
  readonly runtime: string;
  /** Room ids of this run start with this, so runs never share rooms. */
  readonly roomPrefix: string;
  /** A token for a user, minted by the node the client will join (the relay needs none). */
  token(nodeIndex: number, userId: string): Promise<string>;
  /** An error message when a local server process died, undefined while all run. */
  failure(): string | undefined;
  /** Stops what the bench started; leaves external servers alone. */
  stop(): Promise<void>;
}

/** Options of {@link startWeft}. */
export interface StartWeftOptions {
  nodes: number;
  /** Start a local redis-server and give every node its REDIS_URL. */
  redis: boolean;
  /** Shared database of several nodes; one node always gets its own SQLite. */
  database: 'sqlite' | 'postgres';
  /** `dist` runs `node dist/main.js`, `src` runs `node --import tsx src/main.ts`. */
  runtime: 'dist' | 'src';
  secret: string;
  logLevel: string;
  /** Extra environment of every node (limits). */
  env: Record<string, string>;
  /** When set, nodes run with `--cpu-prof` and write their profiles into this folder. */
  cpuProfileDir?: string;
  /** Where temporary files go; removed on stop. */
  workDir: string;
}

/** Starts Weft node(s) as child processes (and Redis, and Postgres, when asked). */
export async function startWeft(options: StartWeftOptions): Promise<SystemUnderTest> {
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    cleanups.length = 0;
  };

  try {
    let redis: BenchRedis | undefined;
    if (options.redis) {
      redis = await startRedis(path.join(options.workDir, 'redis'));
      cleanups.push(() => redis!.stop());
    }

    let databaseUrl: string | undefined;
    if (options.nodes > 1 && options.database === 'postgres') {
      // The test suite's throwaway-Postgres helper: the same binaries and settings as the tests.
      const { startTestPostgres } = await import('../../test/support/postgres.js');
      const postgres = await startTestPostgres();
      cleanups.push(() => postgres.stop());
      databaseUrl = postgres.url;
    } else if (options.nodes > 1) {
      databaseUrl = `sqlite:${path.join(options.workDir, 'shared.db')}`;
    }

    const nodes: ChildServer[] = [];
    for (let index = 0; index < options.nodes; index++) {
      const node = await startNode(options, index, databaseUrl, redis?.url);
      cleanups.push(() => node.stop());
      nodes.push(node);
    }

    const processes: WatchedProcess[] = nodes.map((node) => ({ label: node.label, pid: node.pid }));
    if (redis) processes.push({ label: 'redis', pid: redis.server.pid });
    const urls = nodes.map((node) => `http://127.0.0.1:${node.port}`);
    const children = redis ? [...nodes, redis.server] : nodes;

    return {
      kind: 'weft',
      label: `weft${options.nodes > 1 ? ` ×${options.nodes}` : ''}${redis ? ' + redis' : ''}`,
      urls,
      sampler: new ProcSampler(processes),
      redis,
      runtime: options.runtime,
      roomPrefix: newRoomPrefix(),
      token: (nodeIndex, userId) =>
        mintAccessToken(urls[nodeIndex % urls.length]!, options.secret, userId, 'bench-*'),
      failure: () => childFailure(children),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Starts the reference relay (bench/relay.ts) as a child process. */
export async function startRelay(): Promise<SystemUnderTest> {
  const relay = await startChildServer({
    label: 'relay',
    command: process.execPath,
    args: ['--import', 'tsx', path.join(REPO_ROOT, 'bench', 'relay.ts')],
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
    readyLine: listeningPort,
    startTimeoutMs: NODE_START_TIMEOUT_MS,
  });

  return {
    kind: 'relay',
    label: 'relay',
    urls: [`http://127.0.0.1:${relay.port}`],
    sampler: new ProcSampler([{ label: 'relay', pid: relay.pid }]),
    runtime: 'tsx',
    roomPrefix: newRoomPrefix(),
    token: () => Promise.resolve('relay'),
    failure: () => childFailure([relay]),
    stop: () => relay.stop(),
  };
}

/** Weft nodes that something else started: `--url`, optionally `--pid` to sample them. */
export function externalWeft(urls: string[], secret: string, pids: number[]): SystemUnderTest {
  return {
    kind: 'weft',
    label: `external${urls.length > 1 ? ` ×${urls.length}` : ''}`,
    urls,
    sampler: new ProcSampler(pids.map((pid, index) => ({ label: `pid-${index}`, pid }))),
    runtime: 'external',
    roomPrefix: newRoomPrefix(),
    token: (nodeIndex, userId) =>
      mintAccessToken(urls[nodeIndex % urls.length]!, secret, userId, 'bench-*'),
    failure: () => undefined,
    stop: () => Promise.resolve(),
  };
}

/**
 * Whether `dist/main.js` is newer than every file under src/: then the built node is current and
 * starts without a compiler in the process.
 */
export function distIsCurrent(): boolean {
  const main = path.join(REPO_ROOT, 'dist', 'main.js');
  if (!fs.existsSync(main)) return false;

  const builtAt = fs.statSync(main).mtimeMs;
  const newest = newestMtime(path.join(REPO_ROOT, 'src'));
  return newest <= builtAt;
}

/** A fresh temporary folder for one bench run. */
export function makeWorkDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'weft-bench-'));
}

/** The port of a `{"msg":"listening","port":…}` log line, as Weft and the relay print it. */
export function listeningPort(line: string): number | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const record = JSON.parse(line) as { msg?: unknown; port?: unknown };
    return record.msg === 'listening' && typeof record.port === 'number' ? record.port : undefined;
  } catch {
    return undefined;
  }
}

async function startNode(
  options: StartWeftOptions,
  index: number,
  databaseUrl: string | undefined,
  redisUrl: string | undefined,
): Promise<ChildServer> {
  const dataDir = path.join(options.workDir, `node-${index}`);
  fs.mkdirSync(dataDir, { recursive: true });

  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of WEFT_ENV_NAMES) delete env[name];
  Object.assign(env, {
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    SECRET_KEY: options.secret,
    LOG_LEVEL: options.logLevel,
    NODE_ID: `bench-${index}`,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    ...options.env,
  });

  // One folder per node: node writes one profile per thread (the tsx loader has its own) under
  // names of its choosing, and a fixed name would let the threads overwrite each other.
  const profile = options.cpuProfileDir
    ? ['--cpu-prof', '--cpu-prof-dir', path.join(options.cpuProfileDir, `weft-${index}`)]
    : [];
  const entry =
    options.runtime === 'dist'
      ? [path.join(REPO_ROOT, 'dist', 'main.js')]
      : ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'main.ts')];

  return startChildServer({
    label: `weft-${index}`,
    command: process.execPath,
    args: [...profile, ...entry],
    cwd: REPO_ROOT,
    env,
    readyLine: listeningPort,
    startTimeoutMs: NODE_START_TIMEOUT_MS,
  });
}

function childFailure(children: readonly ChildServer[]): string | undefined {
  const dead = children.find((child) => child.exited());
  if (!dead) return undefined;
  return `${dead.label} exited (${dead.exitStatus()}). Its last output:\n${dead.recentOutput()}`;
}

function newRoomPrefix(): string {
  return `bench-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}
