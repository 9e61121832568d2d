import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';

import { BenchTimeoutError, withTimeout } from './deadline.js';

/** Lines of a child's output kept to explain a failure. */
const KEPT_LINES = 60;
/** A child asked to stop that is still running after this long is killed. */
const STOP_TIMEOUT_MS = 15_000;

/** Options of {@link startChildServer}. */
export interface ChildServerOptions {
  /** Name in messages and reports, e.g. `weft-0`. */
  label: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Reads one output line (stdout or stderr); returns the port once the line says the server
   * listens, undefined otherwise.
   */
  readyLine: (line: string) => number | undefined;
  /** Longest wait for the ready line, in milliseconds. */
  startTimeoutMs: number;
}

/** A server running as a child process of the bench. */
export interface ChildServer {
  readonly label: string;
  readonly pid: number;
  readonly port: number;
  /** The last lines the child printed, for error messages. */
  recentOutput(): string;
  /** True once the child has exited. */
  exited(): boolean;
  /** Exit code or signal once exited. */
  exitStatus(): string | undefined;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the child is gone. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts a server as a child process and waits for the line that names its port. Output is read
 * continuously (a full pipe would block the child) and only the last lines are kept. Children
 * still running when the bench exits are killed.
 */
export async function startChildServer(options: ChildServerOptions): Promise<ChildServer> {
  installExitHook();
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);

  const lines: string[] = [];
  let exitStatus: string | undefined;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitStatus = signal ?? `code ${code}`;
      running.delete(child);
      resolve();
    });
    child.once('error', (error) => {
      exitStatus = `spawn error: ${error.message}`;
      running.delete(child);
      resolve();
    });
  });

  const ready = new Promise<number>((resolve, reject) => {
    const onLine = (line: string) => {
      lines.push(line);
      if (lines.length > KEPT_LINES) lines.shift();
      const port = options.readyLine(line);
      if (port !== undefined) resolve(port);
    };
    readline.createInterface({ input: child.stdout! }).on('line', onLine);
    readline.createInterface({ input: child.stderr! }).on('line', onLine);
    void exitedPromise.then(() =>
      reject(
        new Error(
          `${options.label} exited (${exitStatus}) before it was ready. Its last output:\n${lines.join('\n')}`,
        ),
      ),
    );
  });

  const stop = async () => {
    if (exitStatus !== undefined) return;
    child.kill('SIGTERM');
    try {
      await withTimeout(exitedPromise, STOP_TIMEOUT_MS, `${options.label} to stop`);
    } catch (error) {
      if (!(error instanceof BenchTimeoutError)) throw error;
      child.kill('SIGKILL');
      await exitedPromise;
    }
  };

  let port: number;
  try {
    port = await withTimeout(ready, options.startTimeoutMs, `${options.label} to listen`);
  } catch (error) {
    await stop();
    if (error instanceof BenchTimeoutError) {
      throw new Error(`${error.message}. Its last output:\n${lines.join('\n')}`, { cause: error });
    }
    throw error;
  }

  return {
    label: options.label,
    pid: child.pid!,
    port,
    recentOutput: () => lines.join('\n'),
    exited: () => exitStatus !== undefined,
    exitStatus: () => exitStatus,
    stop,
  };
}

/** Kills every child still running; for an abort path (SIGINT, a fatal error). */
export function killAllChildren(): void {
  for (const child of running) child.kill('SIGKILL');
}

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', killAllChildren);
}
