import path from 'node:path';
import { parseArgs } from 'node:util';

import type { Protocol } from '../clients/yjs-socket-client.js';
import { REPO_ROOT } from './system-under-test.js';

/** Everything the command line can set; scenario figures left undefined take their defaults. */
export interface BenchOptions {
  scenario: string | undefined;
  help: boolean;
  /** Nodes to measure instead of starting one (`--url`, repeatable). */
  urls: string[];
  /** Pids of external nodes to sample (`--pid`, repeatable; local /proc only). */
  pids: number[];
  /** Secret key of external nodes (`--secret`). */
  secret: string | undefined;
  /** Protocols to run; undefined = every protocol the scenario supports. */
  protocols: Protocol[] | undefined;
  rooms: number | undefined;
  clients: number | undefined;
  /** Updates (or ops) per second per writing client. */
  rate: number | undefined;
  /** Length of the measured phase, in seconds. */
  durationS: number | undefined;
  window: number | undefined;
  readers: number | undefined;
  connections: number | undefined;
  perRoom: number | undefined;
  docKb: number | undefined;
  joiners: number[] | undefined;
  nodes: number;
  redis: boolean;
  database: 'sqlite' | 'postgres' | undefined;
  relay: boolean;
  /** Before a local cluster, measure a single node too (`--no-single` turns it off). */
  single: boolean;
  server: 'auto' | 'dist' | 'src' | 'build';
  cpuProf: boolean;
  logLevel: string;
  outDir: string;
  plain: boolean;
  /** Hard limit of the whole run, in seconds. */
  maxTimeS: number;
}

/** Thrown for a bad command line; the message says what to fix. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Hard limit of a whole run unless `--max-time` says otherwise, in seconds. */
const DEFAULT_MAX_TIME_S = 900;

/** Parses `npm run bench -- …` arguments. */
export function parseOptions(argv: readonly string[]): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        url: { type: 'string', multiple: true },
        pid: { type: 'string', multiple: true },
        secret: { type: 'string' },
        protocol: { type: 'string' },
        rooms: { type: 'string' },
        clients: { type: 'string' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        window: { type: 'string' },
        readers: { type: 'string' },
        connections: { type: 'string' },
        'per-room': { type: 'string' },
        'doc-kb': { type: 'string' },
        joiners: { type: 'string' },
        nodes: { type: 'string' },
        redis: { type: 'boolean' },
        db: { type: 'string' },
        'no-relay': { type: 'boolean' },
        'no-single': { type: 'boolean' },
        server: { type: 'string' },
        'cpu-prof': { type: 'boolean' },
        'log-level': { type: 'string' },
        out: { type: 'string' },
        plain: { type: 'boolean' },
        'max-time': { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1)
    throw new UsageError(`one scenario at a time, got ${positionals.join(' ')}`);

  const urls = (values.url ?? []).map(checkUrl);
  const nodes = count(values.nodes, '--nodes') ?? Math.max(1, urls.length);
  const redis = values.redis ?? false;
  if (urls.length === 0 && nodes > 1 && !redis) {
    throw new UsageError(
      '--nodes above 1 needs --redis: separate nodes share rooms only through Redis',
    );
  }
  if (urls.length > 0 && (values.nodes !== undefined || redis)) {
    throw new UsageError('--nodes and --redis start local nodes; they do not go with --url');
  }

  return {
    scenario: positionals[0],
    help: values.help ?? false,
    urls,
    pids: (values.pid ?? []).map((pid) => count(pid, '--pid')!),
    secret: values.secret,
    protocols: protocolsOf(values.protocol),
    rooms: count(values.rooms, '--rooms'),
    clients: count(values.clients, '--clients'),
    rate: positive(values.rate, '--rate'),
    durationS: positive(values.duration, '--duration'),
    window: count(values.window, '--window'),
    readers: count(values.readers, '--readers'),
    connections: count(values.connections, '--connections'),
    perRoom: count(values['per-room'], '--per-room'),
    docKb: count(values['doc-kb'], '--doc-kb'),
    joiners: values.joiners?.split(',').map((part) => count(part.trim(), '--joiners')!),
    nodes,
    redis,
    database: oneOf(values.db, '--db', ['sqlite', 'postgres'] as const),
    relay: !(values['no-relay'] ?? false),
    single: !(values['no-single'] ?? false),
    server: oneOf(values.server, '--server', ['auto', 'dist', 'src', 'build'] as const) ?? 'auto',
    cpuProf: values['cpu-prof'] ?? false,
    logLevel: values['log-level'] ?? 'info',
    outDir: path.resolve(values.out ?? path.join(REPO_ROOT, 'bench', 'results')),
    plain: values.plain ?? false,
    maxTimeS: positive(values['max-time'], '--max-time') ?? DEFAULT_MAX_TIME_S,
  };
}

/** The `--help` text, with each scenario's one-line summary. */
export function helpText(scenarios: readonly { name: string; summary: string }[]): string {
  const list = scenarios.map((s) => `  ${s.name.padEnd(12)} ${s.summary}`).join('\n');
  return `Usage: npm run bench -- <scenario> [options]

Scenarios:
${list}

Target (default: start a local Weft node as a child process and sample its CPU and memory):
  --url URL          measure a running node instead (repeat for a cluster; clients spread
                     round-robin). Needs --secret. Loopback addresses only.
  --secret sk_…      secret key of the --url nodes (tokens are minted through their REST API)
  --pid PID          sample these local processes as the --url nodes' CPU and memory (repeat)
  --nodes N          start N local nodes (N > 1 needs --redis)
  --redis            start a local redis-server and give every node REDIS_URL
  --db sqlite|postgres  shared database of several local nodes (default postgres for N > 1,
                     a throwaway server like the test suite's; sqlite = one shared file)
  --server auto|dist|src|build
                     how local nodes run: dist = node dist/main.js, src = node --import tsx
                     src/main.ts, build = npm run build first, auto = dist when it is newer
                     than src/, else src (default auto)
  --no-relay         skip the reference relay (by default every scenario that can also
                     measures bench/relay.ts, a byte forwarder, in the same run)
  --no-single        with --nodes N > 1, skip the single node otherwise measured first (the
                     cluster's cost is compared with one node's in the same run)
  --log-level L      LOG_LEVEL of local nodes (default info)
  --cpu-prof         run local nodes with node --cpu-prof; the hottest functions go in the
                     result and the profiles under the results folder

Load (each scenario has its own defaults; see bench/README.md):
  --protocol yjs|liveblocks|both
                     yjs = y-websocket at /y/{room}, liveblocks = JSON protocol at /v8
                     (default: every protocol the scenario supports)
  --rooms R --clients C --rate N --duration S
                     rooms, clients per room, updates per second per client, seconds measured
  --readers N --window W        hot-room: readers, unacknowledged updates allowed in flight
  --connections N --per-room M  connections: sockets in total, sockets per room
  --doc-kb K --joiners 1,2,4,…  cold-join: document size, joiners per wave

Output:
  --out DIR          results folder (default bench/results)
  --plain            plain progress lines even on a terminal
  --max-time S       abort the whole run after S seconds (default ${DEFAULT_MAX_TIME_S})
  -h, --help         this text
`;
}

function checkUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url ${raw} is not a URL`);
  }
  if (url.protocol !== 'http:') throw new UsageError(`--url ${raw}: use http://127.0.0.1:PORT`);
  // The bench sends load; it must never be pointed at another machine.
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new UsageError(`--url ${raw}: only loopback addresses (127.0.0.1, localhost, [::1])`);
  }
  return url.origin;
}

function protocolsOf(raw: string | undefined): Protocol[] | undefined {
  if (raw === undefined || raw === 'both')
    return raw === 'both' ? ['yjs', 'liveblocks'] : undefined;
  if (raw === 'yjs' || raw === 'liveblocks') return [raw];
  throw new UsageError(`--protocol must be yjs, liveblocks or both, got ${raw}`);
}

function count(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw.replaceAll('_', ''));
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`${name} must be a whole number of at least 1, got ${raw}`);
  }
  return value;
}

function positive(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${name} must be a number above 0, got ${raw}`);
  }
  return value;
}

function oneOf<T extends string>(
  raw: string | undefined,
  name: string,
  allowed: readonly T[],
): T | undefined {
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new UsageError(`${name} must be one of ${allowed.join(', ')}, got ${raw}`);
  }
  return raw as T;
}
