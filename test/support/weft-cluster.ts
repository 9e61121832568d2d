import { Redis } from 'ioredis';

import { makeDataDir, startChildNode, type ChildNode } from './child-node.js';
import type { NodeAddress } from './clients.js';
import { startFailoverProxy, type FailoverProxy } from './failover-proxy.js';
import { createTestDatabase } from './postgres.js';
import { TEST_SECRET, cleanUpAfter } from './start-node.js';

/**
 * A Weft cluster as an operator runs one: N nodes in child processes (`src/main.ts`), each with
 * its own NODE_ID, sharing SECRET_KEY, a Postgres database and REDIS_URL, each behind a
 * failover proxy that prefers it and falls back to the next live node in order.
 */

/** One node of a test cluster. */
export interface ClusterNode {
  readonly nodeId: string;
  /** The node's process. Kill it with `child.kill('SIGKILL')`. */
  readonly child: ChildNode;
  /** The node itself: for assertions about this very node (REST, /metrics, /readyz). */
  readonly direct: NodeAddress;
  /** What clients use: a proxy that reaches this node while it lives, else the next live one. */
  readonly entry: NodeAddress;
  readonly proxy: FailoverProxy;
}

/** Options of {@link startWeftCluster}. */
export interface WeftClusterOptions {
  /** `redis://…` or `redis-cluster://…` */
  readonly redisUrl: string;
  /** @default 3 */
  readonly size?: number;
  /** More environment for every node, e.g. `{ WRITE_STALL_TIMEOUT_MS: '1000' }`. */
  readonly env?: Record<string, string>;
  /** Node ids are `<prefix>-0`, `<prefix>-1`, … @default 'node' */
  readonly idPrefix?: string;
}

/** A running test cluster. */
export interface WeftCluster {
  readonly nodes: readonly ClusterNode[];
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** Starts one more node on the same database and Redis (not behind a proxy). */
  startNode(nodeId: string): Promise<ChildNode & NodeAddress>;
}

/**
 * Starts the nodes in parallel on a fresh Postgres database. Node `i`'s proxy tries nodes
 * i, i+1, …, wrapping around. Everything stops when the test ends, or after the file when
 * started from a hook.
 */
export async function startWeftCluster(options: WeftClusterOptions): Promise<WeftCluster> {
  const size = options.size ?? 3;
  const prefix = options.idPrefix ?? 'node';
  const databaseUrl = await createTestDatabase();
  const env = (nodeId: string) => ({
    NODE_ID: nodeId,
    SECRET_KEY: TEST_SECRET,
    DATABASE_URL: databaseUrl,
    REDIS_URL: options.redisUrl,
    ...options.env,
  });
  const start = (nodeId: string) => startChildNode(makeDataDir(), env(nodeId));

  // All at once on an empty database, as `docker compose up` starts them.
  const children = await Promise.all(
    Array.from({ length: size }, (_, i) => start(`${prefix}-${i}`)),
  );
  const ports = children.map((child) => child.port);
  const nodes: ClusterNode[] = [];
  for (const [i, child] of children.entries()) {
    const proxy = await startFailoverProxy([...ports.slice(i), ...ports.slice(0, i)]);
    nodes.push({
      nodeId: `${prefix}-${i}`,
      child,
      direct: { url: child.url, secret: TEST_SECRET },
      entry: { url: proxy.url, secret: TEST_SECRET },
      proxy,
    });
  }

  return {
    nodes,
    databaseUrl,
    redisUrl: options.redisUrl,
    async startNode(nodeId) {
      const child = await start(nodeId);
      return Object.assign(child, { url: child.url, secret: TEST_SECRET });
    },
  };
}

/** The value of a metric series in a Prometheus text exposition, or undefined. */
export function metricValue(
  exposition: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    const all = Object.entries(labels).every(([key, value]) =>
      labelText.includes(`${key}="${value}"`),
    );
    if (all) return Number(match[3]);
  }
  return undefined;
}

/** GET /metrics of a node, as text. */
export async function scrapeMetrics(node: NodeAddress): Promise<string> {
  const response = await fetch(`${node.url}/metrics`);
  return response.text();
}

/** The Redis client id of the connection named `name` (`weft:<node>:sub`, …). */
export async function redisClientId(admin: Redis, name: string): Promise<string> {
  const list = (await admin.client('LIST')) as string;
  const line = list.split('\n').find((entry) => entry.includes(` name=${name} `));
  if (!line) throw new Error(`no Redis client named ${name}:\n${list}`);
  return /^id=(\d+)/.exec(line)![1]!;
}

/** An admin connection to one Redis server, closed when the test ends. */
export function redisAdmin(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  cleanUpAfter(() => client.disconnect());
  return client;
}
