import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { Cluster } from 'ioredis';
import { afterAll, onTestFinished, vi } from 'vitest';

import { freePort, startRedisServer, type TestRedisServer } from './redis-server.js';

/** A Redis Cluster of a test: masters without replicas, one process each. */
export interface TestRedisCluster {
  /** The masters, in the order they were given slots (first holds slot 0). */
  readonly nodes: readonly TestRedisServer[];
  /** `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,…` */
  readonly url: string;
  /** A new cluster client for assertions, closed with the cluster. */
  client(): Cluster;
  /** The master that holds a key's slot. */
  nodeOf(key: string): Promise<TestRedisServer>;
  /** Waits until every node reports `cluster_state:ok`. */
  waitUntilHealthy(): Promise<void>;
  /** Kills every node and removes their folders. Safe to call twice. */
  cleanup(): Promise<void>;
}

const run = promisify(execFile);
/** The cluster bus listens on the client port plus this. */
const BUS_PORT_OFFSET = 10_000;
/** How long the nodes may take to agree that the cluster is ok. */
const HEALTHY_TIMEOUT_MS = 20_000;

/** Clusters of this test file not cleaned up yet. */
const liveClusters = new Set<TestRedisCluster>();

// Registered at collection, like the servers' own: see test/support/redis-server.ts.
afterAll(async () => {
  await Promise.all([...liveClusters].map((cluster) => cluster.cleanup()));
});

/**
 * Starts `masters` redis-server processes with `cluster-enabled yes` (AOF on, so that a
 * restarted master keeps its data), joins them with `redis-cli --cluster create`, waits for
 * `cluster_state:ok`. Everything is torn down when the calling test ends, or after the file when
 * started from a hook.
 */
export async function startRedisCluster(masters = 3): Promise<TestRedisCluster> {
  const nodes: TestRedisServer[] = [];
  const clients: Cluster[] = [];
  let cleaning: Promise<void> | undefined;

  const cleanup = () => {
    cleaning ??= (async () => {
      liveClusters.delete(cluster);
      for (const client of clients) client.disconnect();
      await Promise.all(nodes.map((node) => node.cleanup()));
    })();
    return cleaning;
  };
  try {
    onTestFinished(cleanup);
  } catch {
    // Started from a hook: the file-level afterAll above cleans up.
  }

  for (let i = 0; i < masters; i++) {
    nodes.push(
      await startRedisServer({
        appendOnly: true,
        port: await freePort(65_535 - BUS_PORT_OFFSET),
        extraArgs: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          '2000',
          // A master that restarts alone must still serve its own slots.
          '--cluster-require-full-coverage',
          'no',
        ],
      }),
    );
  }
  await run('redis-cli', [
    '--cluster',
    'create',
    ...nodes.map((node) => `127.0.0.1:${node.port}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);

  const admins = nodes.map((node) => node.client());
  const cluster: TestRedisCluster = {
    nodes,
    url: `redis-cluster://${nodes.map((node) => `127.0.0.1:${node.port}`).join(',')}`,
    client() {
      const client = new Cluster(nodes.map((node) => ({ host: '127.0.0.1', port: node.port })));
      client.on('error', () => undefined);
      clients.push(client);
      return client;
    },
    async nodeOf(key) {
      const probe = admins[0]!;
      const slot = Number(await probe.cluster('KEYSLOT', key));
      const shards = (await probe.cluster('SLOTS')) as unknown as [
        number,
        number,
        [string, number],
      ][];
      const owner = shards.find(([from, to]) => slot >= from && slot <= to)!;
      return nodes.find((node) => node.port === owner[2][1])!;
    },
    async waitUntilHealthy() {
      await vi.waitFor(
        async () => {
          for (const [i, admin] of admins.entries()) {
            const info = await admin.cluster('INFO');
            if (!info.includes('cluster_state:ok')) throw new Error(`node ${i}: ${info}`);
          }
        },
        { timeout: HEALTHY_TIMEOUT_MS, interval: 100 },
      );
    },
    cleanup,
  };
  liveClusters.add(cluster);
  await cluster.waitUntilHealthy();
  return cluster;
}
