/**
 * End-to-end latency of one Yjs update between two `@liveblocks/yjs` clients in one room:
 * from the moment client A changes its document to the moment client B's document holds the
 * change, one update at a time, for a few thousand updates.
 *
 *   npx tsx bench/yjs-latency.ts --updates 3000            # a node started in this process
 *   npx tsx bench/yjs-latency.ts --url http://host:port --secret sk_…
 *
 * Options: --updates N (3000), --warmup N (100), --throttle MS|off (off: the client's 100 ms
 * send throttle is disabled, which it allows for a "localhost" base URL, so that the number
 * measures the server and the network, not the client's batching), --interval-ms N (0: the
 * least time between two sends; a node at --url with the default MAX_MESSAGES_PER_SECOND of
 * 200 closes a client sending faster, so use 6 there; the in-process node raises the limit).
 * Prints median, p95, p99 and max, and writes a JSON record under bench/results/ (gitignored).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { createClient, type Room } from '@liveblocks/client';
import { Liveblocks } from '@liveblocks/node';
import { LiveblocksYjsProvider } from '@liveblocks/yjs';
import WebSocket from 'ws';
import * as Y from 'yjs';

import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { startServer } from '../src/server.js';

const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
const SECRET = 'sk_bench_yjs_latency_0123456789';
/** An update not observed within this long is reported as lost and the run fails. */
const UPDATE_TIMEOUT_MS = 10_000;

interface Options {
  updates: number;
  warmup: number;
  /** Milliseconds, or undefined to disable the client's throttle. */
  throttleMs: number | undefined;
  url: string | undefined;
  secret: string | undefined;
  /** Least time between two sends, in milliseconds. */
  intervalMs: number;
}

interface Summary {
  count: number;
  medianMs: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const cleanups: (() => Promise<void> | void)[] = [];

  try {
    const target = await targetNode(options, cleanups);
    // The client only lets its throttle be disabled for a "localhost" base URL.
    const baseUrl = target.url.replace('//127.0.0.1:', '//localhost:');
    const rest = new Liveblocks({ secret: target.secret, baseUrl: target.url });
    const roomId = `yjs-latency-${Date.now()}`;
    await rest.createRoom(roomId, { defaultAccesses: ['room:write'] });

    const token = async (userId: string) => {
      const response = await rest.identifyUser({ userId, groupIds: [] });
      return (JSON.parse(response.body) as { token: string }).token;
    };
    const a = await openProvider(baseUrl, roomId, () => token('bench-a'), options, cleanups);
    const b = await openProvider(baseUrl, roomId, () => token('bench-b'), options, cleanups);

    const samples = await measure(a.doc, b.doc, options);
    const summary = summarize(samples.slice(options.warmup));
    report(summary, options, target.label);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

/** Sends updates one at a time from A and times each until B's document holds it. */
async function measure(a: Y.Doc, b: Y.Doc, options: Options): Promise<number[]> {
  const samples: number[] = [];
  const seen = b.getMap<number>('bench');
  let waiting: { seq: number; startedAt: number; done: () => void } | undefined;

  b.on('update', () => {
    if (waiting && seen.get('seq') === waiting.seq) {
      samples.push(performance.now() - waiting.startedAt);
      const { done } = waiting;
      waiting = undefined;
      done();
    }
  });

  const total = options.warmup + options.updates;
  let lastSentAt = -Infinity;
  for (let seq = 0; seq < total; seq++) {
    const wait = lastSentAt + options.intervalMs - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    lastSentAt = performance.now();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`update ${seq} was not observed in ${UPDATE_TIMEOUT_MS} ms`)),
        UPDATE_TIMEOUT_MS,
      );
      waiting = {
        seq,
        startedAt: performance.now(),
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      a.getMap<number>('bench').set('seq', seq);
    });
  }
  return samples;
}

async function openProvider(
  baseUrl: string,
  roomId: string,
  token: () => Promise<string>,
  options: Options,
  cleanups: (() => Promise<void> | void)[],
): Promise<{ doc: Y.Doc; room: Room }> {
  const client = createClient({
    baseUrl,
    authEndpoint: async () => ({ token: await token() }),
    polyfills: { WebSocket: WebSocket as never },
    ...(options.throttleMs === undefined
      ? { __DANGEROUSLY_disableThrottling: true }
      : { throttle: options.throttleMs }),
  } as Parameters<typeof createClient>[0]);
  const { room, leave } = client.enterRoom(roomId, { initialPresence: {} } as never) as {
    room: Room;
    leave: () => void;
  };
  const doc = new Y.Doc();
  const provider = new LiveblocksYjsProvider(room, doc);
  cleanups.push(() => {
    provider.destroy();
    leave();
  });

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('provider did not sync in 10 s')), 10_000);
    const check = () => {
      if (!provider.synced) return;
      clearTimeout(timer);
      resolve();
    };
    provider.on('synced', check);
    check();
  });
  return { doc, room };
}

async function targetNode(
  options: Options,
  cleanups: (() => Promise<void> | void)[],
): Promise<{ url: string; secret: string; label: string }> {
  if (options.url !== undefined) {
    if (options.secret === undefined)
      throw new Error('--url needs --secret (tokens are minted over REST)');
    return { url: options.url, secret: options.secret, label: options.url };
  }

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-latency-'));
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const config = loadConfig({
    PORT: '0',
    DATA_DIR: dataDir,
    SECRET_KEY: SECRET,
    LOG_LEVEL: 'warn',
    // One update per frame, back to back, is far past the default 200 messages per second.
    MAX_MESSAGES_PER_SECOND: '1000000',
  });
  const logger = createLogger({ level: 'warn' });
  const server = await startServer({ config, logger, secretKey: SECRET });
  cleanups.push(() => server.close());
  return { url: server.url, secret: SECRET, label: `a node in this process, ${server.url}` };
}

function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((x, y) => x - y);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const round = (ms: number) => Math.round(ms * 1000) / 1000;
  return {
    count: sorted.length,
    medianMs: round(at(0.5)),
    p95Ms: round(at(0.95)),
    p99Ms: round(at(0.99)),
    maxMs: round(sorted[sorted.length - 1]!),
    meanMs: round(sorted.reduce((sum, x) => sum + x, 0) / sorted.length),
  };
}

function report(summary: Summary, options: Options, target: string): void {
  const throttle = options.throttleMs === undefined ? 'off' : `${options.throttleMs} ms`;
  process.stdout.write(
    [
      `Yjs update latency, @liveblocks/yjs A → server → @liveblocks/yjs B (${target})`,
      `updates ${summary.count} (after ${options.warmup} warm-up), one at a time, client throttle ${throttle}, interval ${options.intervalMs} ms`,
      `median ${summary.medianMs} ms   p95 ${summary.p95Ms} ms   p99 ${summary.p99Ms} ms   max ${summary.maxMs} ms   mean ${summary.meanMs} ms`,
      '',
    ].join('\n'),
  );

  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(
    RESULTS_DIR,
    `yjs-latency-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  );
  const record = {
    at: new Date().toISOString(),
    target,
    throttle,
    intervalMs: options.intervalMs,
    updates: options.updates,
    warmup: options.warmup,
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
    ...summary,
  };
  fs.writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write(`written to ${path.relative(process.cwd(), file)}\n`);
}

function parseOptions(args: string[]): Options {
  const options: Options = {
    updates: 3000,
    warmup: 100,
    throttleMs: undefined,
    url: undefined,
    secret: undefined,
    intervalMs: 0,
  };
  for (let i = 0; i < args.length; i++) {
    const name = args[i];
    const value = args[++i];
    if (value === undefined) throw new Error(`${name} needs a value`);
    switch (name) {
      case '--updates':
        options.updates = positive(name, value);
        break;
      case '--warmup':
        options.warmup = Number.parseInt(value, 10) || 0;
        break;
      case '--throttle':
        options.throttleMs = value === 'off' ? undefined : positive(name, value);
        break;
      case '--url':
        options.url = value.replace(/\/+$/, '');
        break;
      case '--secret':
        options.secret = value;
        break;
      case '--interval-ms':
        options.intervalMs = Number.parseInt(value, 10) || 0;
        break;
      default:
        throw new Error(`unknown option ${name}`);
    }
  }
  return options;
}

function positive(name: string | undefined, value: string): number {
  const parsed = Number.parseInt(value, 10);
  if (!Number.isSafeInteger(parsed) || parsed <= 0)
    throw new Error(`${name} must be a positive integer`);
  return parsed;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
