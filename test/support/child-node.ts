import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { TEST_SECRET, cleanUpAfter } from './start-node.js';

/**
 * A Weft node in a child process (`node --import tsx src/main.ts`), for tests that kill a node
 * the way an operating system does (SIGKILL) and start another on the same database.
 */

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** How long a child has to log "listening", in milliseconds (tsx compiles on start). */
const START_TIMEOUT_MS = 30_000;

/** A node running in a child process. */
export interface ChildNode {
  readonly url: string;
  readonly port: number;
  readonly secret: string;
  readonly child: ChildProcess;
  /** Every log record the child wrote to stdout, parsed (lines that are not JSON kept as msg). */
  readonly logs: Record<string, unknown>[];
  /** Sends the signal and resolves once the process has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** A temporary data folder, removed when the test finishes (after the file, from a hook). */
export function makeDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-child-'));
  cleanUpAfter(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Starts `src/main.ts` with PORT=0 on the given data folder and resolves once it logs
 * "listening". The child is killed when the test finishes if it still runs (after the file when
 * started from a hook).
 */
export async function startChildNode(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<ChildNode> {
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    SECRET_KEY: TEST_SECRET,
    LOG_LEVEL: 'info',
    ...env,
  };
  // The child must use the data folder's SQLite database and run on its own.
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'NODE_ENV']) {
    if (!(name in env)) delete childEnv[name];
  }

  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanUpAfter(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });

  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`child node did not log "listening": ${stderr.slice(-2000)}`)),
      START_TIMEOUT_MS,
    );
    let pending = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const record = parseLine(line);
        logs.push(record);
        if (record.msg === 'listening' && typeof record.port === 'number') {
          clearTimeout(timer);
          resolve(record.port);
        }
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`child node exited (${code ?? signal}) before listening: ${stderr}`));
    });
  });

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    secret: TEST_SECRET,
    child,
    logs,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

function parseLine(line: string): Record<string, unknown> {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { msg: line };
  }
}
