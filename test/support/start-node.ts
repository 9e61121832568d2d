import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Writable } from 'node:stream';

import { afterAll, onTestFinished } from 'vitest';

import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startServer, type StartServerOptions, type WeftServer } from '../../src/server.js';
import { startRedisServer } from './redis-server.js';

/** The secret key test nodes use. */
export const TEST_SECRET = 'sk_test_weft_secret_key_0123456789';

/** A node started by a test, with its log records. */
export interface TestNode extends WeftServer {
  readonly secret: string;
  /** Every log record the node wrote, parsed. */
  readonly logs: Record<string, unknown>[];
}

/**
 * Set `WEFT_TEST_BUS=redis` to run the suites on RedisBus: every node started here without
 * REDIS_URL or an injected bus then gets a redis-server of its own, so that single-node tests
 * exercise the cluster bus (log in Redis, delivery through pub/sub) with unchanged expectations.
 */
const BUS_UNDER_TEST = process.env.WEFT_TEST_BUS === 'redis' ? 'redis' : 'local';

/**
 * Starts a node on a free port with a fresh SQLite database (or the given environment) and
 * stops it after the test file. `env` overrides any variable, e.g. limits or DATABASE_URL;
 * `options.createBus` replaces the bus (tests wrap it to inject faults).
 */
export async function startNode(
  env: Record<string, string> = {},
  options: Pick<StartServerOptions, 'createBus'> = {},
): Promise<TestNode> {
  if (BUS_UNDER_TEST === 'redis' && env.REDIS_URL === undefined && !options.createBus) {
    env = { ...env, REDIS_URL: (await startRedisServer()).url };
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-test-'));
  const config = loadConfig({
    PORT: '0',
    DATA_DIR: dataDir,
    SECRET_KEY: TEST_SECRET,
    LOG_LEVEL: 'debug',
    ...env,
  });
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const logger = createLogger({ level: config.logLevel, destination, base: { node: 'test' } });
  const server = await startServer({ config, logger, secretKey: config.secretKey!, ...options });

  cleanUpAfter(async () => {
    await server.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return Object.assign(Object.create(null) as object, server, {
    secret: TEST_SECRET,
    logs,
    close: () => server.close(),
  }) as TestNode;
}

/** Clean-ups registered from hooks, run after the importing file. */
const fileCleanups = new Set<() => Promise<void> | void>();

// Registered while the importing file is collected: vitest ignores an `afterAll` registered
// inside a running test or hook.
afterAll(async () => {
  const cleanups = [...fileCleanups];
  fileCleanups.clear();
  await Promise.all(cleanups.map((cleanup) => cleanup()));
});

/**
 * Runs `cleanup` when the current test ends, or after the file when called from a hook
 * (`beforeAll`, `beforeEach`) where there is no current test.
 */
export function cleanUpAfter(cleanup: () => Promise<void> | void): void {
  try {
    onTestFinished(cleanup);
  } catch {
    fileCleanups.add(cleanup);
  }
}
