/**
 * Latency of one Yjs update in a two-node cluster, same node against across nodes, and the
 * Redis commands each update costs.
 *
 *   npx tsx bench/cluster-latency.ts                       # 3000 updates per path, fsync always
 *   npx tsx bench/cluster-latency.ts --fsync everysec --updates 5000
 *
 * Starts a local redis-server (AOF on, `appendfsync` as given), a throwaway Postgres and two
 * Weft nodes as child processes sharing them. Two `@liveblocks/yjs` clients then send updates
 * one at a time, A changing its document and timing until B's document holds the change: first
 * with A and B on node 0 (same node), then with A on node 0 and B on node 1 (across nodes). The
 * client's 100 ms send throttle is disabled (allowed for a "localhost" base URL) so that the
 * figure is the server's and Redis's, not the client's batching. `INFO commandstats` is read
 * before and after each path; the commands of an idle window of the same length (heartbeats,
 * tail checks) are subtracted.
 *
 * Options: --updates N (3000), --warmup N (100), --fsync always|everysec (always),
 * --runtime dist|src (dist when dist/ is current, else src).
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { createClient, type Room } from '@liveblocks/client';
import { LiveblocksYjsProvider } from '@liveblocks/yjs';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import * as Y from 'yjs';

import { startChildServer, type ChildServer } from './lib/child-server.js';
import { sleep } from './lib/deadline.js';
import { freePort } from './lib/free-port.js';
import { LatencyRecorder, type LatencySummary } from './lib/latency.js';
import { parseCommandStats } from './lib/redis-server.js';
import {
  distIsCurrent,
  makeWorkDir,
  startWeft,
  type SystemUnderTest,
} from './lib/system-under-test.js';

const SECRET = 'sk_bench_cluster_latency_0123456789';
/** An update not observed within this long fails the run. */
const UPDATE_TIMEOUT_MS = 10_000;

interface Options {
  updates: number;
  warmup: number;
  fsync: 'always' | 'everysec';
  runtime: 'dist' | 'src';
}

interface PathResult {
  label: string;
  summary: LatencySummary;
  /** Redis calls per measured update, by command, background removed. */
  commandsPerUpdate: Record<string, number>;
  seconds: number;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const workDir = makeWorkDir();
  const cleanups: (() => Promise<void> | void)[] = [
    () => fs.rmSync(workDir, { recursive: true, force: true }),
  ];

  try {
    const redis = await startRedis(path.join(workDir, 'redis'), options.fsync);
    cleanups.push(() => redis.server.stop());
    const system = await startWeft({
      nodes: 2,
      redis: false,
      database: 'postgres',
      runtime: options.runtime,
      secret: SECRET,
      // The node says it listens at info.
      logLevel: 'info',
      // One update per frame, back to back, is far past the default 200 messages per second.
      env: { REDIS_URL: redis.url, MAX_MESSAGES_PER_SECOND: '1000000' },
      workDir,
    });
    cleanups.push(() => system.stop());

    const results: PathResult[] = [];
    for (const [label, nodeOfB] of [
      ['same node', 0],
      ['across nodes', 1],
    ] as const) {
      results.push(await measurePath(system, redis, label, nodeOfB, options, cleanups));
    }
    print(results, options, system);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

async function measurePath(
  system: SystemUnderTest,
  redis: { url: string },
  label: string,
  nodeOfB: number,
  options: Options,
  cleanups: (() => Promise<void> | void)[],
): Promise<PathResult> {
  const roomId = `${system.roomPrefix}-${nodeOfB}`;
  const a = await openProvider(system, 0, roomId, 'bench-a', cleanups);
  const b = await openProvider(system, nodeOfB, roomId, 'bench-b', cleanups);

  await sendUpdates(a, b, options.warmup);
  const before = await commandCalls(redis.url);
  const startedAt = performance.now();
  const recorder = await sendUpdates(a, b, options.updates);
  const seconds = (performance.now() - startedAt) / 1000;
  const after = await commandCalls(redis.url);
  // What the nodes send on their own meanwhile (heartbeats, tail checks), over as long a window.
  await sleep(seconds * 1000);
  const idle = await commandCalls(redis.url);

  const commandsPerUpdate: Record<string, number> = {};
  for (const command of Object.keys(after)) {
    // The bench's own INFO calls (and ioredis's ready check) are not the cluster's.
    if (command === 'info') continue;
    const busy = after[command]! - (before[command] ?? 0);
    const background = (idle[command] ?? 0) - after[command]!;
    const perUpdate = (busy - background) / options.updates;
    if (perUpdate >= 0.005) commandsPerUpdate[command] = round(perUpdate, 3);
  }
  return { label, summary: recorder.summary(), commandsPerUpdate, seconds };
}

/** Sends `count` updates from A one at a time, timing each until B's document holds it. */
async function sendUpdates(a: Y.Doc, b: Y.Doc, count: number): Promise<LatencyRecorder> {
  const recorder = new LatencyRecorder();
  const seen = b.getMap<number>('bench');
  const writes = a.getMap<number>('bench');
  let base = writes.get('seq') ?? 0;

  for (let i = 0; i < count; i++) {
    const seq = ++base;
    const startedAt = performance.now();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        b.off('update', check);
        reject(new Error(`update ${seq} was not observed in ${UPDATE_TIMEOUT_MS} ms`));
      }, UPDATE_TIMEOUT_MS);
      const check = () => {
        if (seen.get('seq') !== seq) return;
        recorder.record(performance.now() - startedAt);
        clearTimeout(timer);
        b.off('update', check);
        resolve();
      };
      b.on('update', check);
      writes.set('seq', seq);
    });
  }
  return recorder;
}

async function openProvider(
  system: SystemUnderTest,
  nodeIndex: number,
  roomId: string,
  userId: string,
  cleanups: (() => Promise<void> | void)[],
): Promise<Y.Doc> {
  // The client only lets its throttle be disabled for a "localhost" base URL.
  const baseUrl = system.urls[nodeIndex]!.replace('//127.0.0.1:', '//localhost:');
  const client = createClient({
    baseUrl,
    authEndpoint: async () => ({ token: await system.token(nodeIndex, userId) }),
    polyfills: { WebSocket: WebSocket as never },
    __DANGEROUSLY_disableThrottling: true,
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
  return doc;
}

async function startRedis(
  dir: string,
  fsync: Options['fsync'],
): Promise<{ url: string; server: ChildServer }> {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const server = await startChildServer({
    label: 'redis',
    command: 'redis-server',
    // prettier-ignore
    args: [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
      '--appendonly', 'yes', '--appendfsync', fsync, '--daemonize', 'no',
    ],
    readyLine: (line) => (line.includes('Ready to accept connections') ? port : undefined),
    startTimeoutMs: 15_000,
  });
  return { url: `redis://127.0.0.1:${port}`, server };
}

async function commandCalls(url: string): Promise<Record<string, number>> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    return parseCommandStats(await client.info('commandstats'));
  } finally {
    client.disconnect();
  }
}

function print(results: PathResult[], options: Options, system: SystemUnderTest): void {
  const lines = [
    `Yjs update latency, @liveblocks/yjs A → Weft → @liveblocks/yjs B, ${system.label} ` +
      `(Redis AOF appendfsync ${options.fsync}, Postgres, nodes from ${options.runtime})`,
    `${options.updates} updates per path after ${options.warmup} warm-up, one at a time, client throttle off`,
    '',
  ];
  for (const result of results) {
    const s = result.summary;
    lines.push(
      `${result.label.padEnd(13)} median ${fmt(s.p50)} ms   p95 ${fmt(s.p95)} ms   p99 ${fmt(s.p99)} ms   max ${fmt(s.max)} ms   (${result.seconds.toFixed(1)} s)`,
      `${''.padEnd(13)} Redis commands per update (INFO commandstats, calls made inside scripts included): ${Object.entries(
        result.commandsPerUpdate,
      )
        .sort(([x], [y]) => x.localeCompare(y))
        .map(([command, calls]) => `${command} ${calls}`)
        .join(', ')}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function parseOptions(args: string[]): Options {
  const options: Options = {
    updates: 3000,
    warmup: 100,
    fsync: 'always',
    runtime: distIsCurrent() ? 'dist' : 'src',
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
      case '--fsync':
        if (value !== 'always' && value !== 'everysec') throw new Error('--fsync always|everysec');
        options.fsync = value;
        break;
      case '--runtime':
        if (value !== 'dist' && value !== 'src') throw new Error('--runtime dist|src');
        options.runtime = value;
        break;
      default:
        throw new Error(`unknown option ${name}`);
    }
  }
  return options;
}

function positive(name: string | undefined, value: string): number {
  const parsed = Number.parseInt(value, 10);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) {
    throw new Error(`${name} must be a positive integer`);
  }
  return parsed;
}

function fmt(ms: number): string {
  return ms.toFixed(2);
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
