import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A connection to one Redis server or to a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** Where the bus connects, parsed from REDIS_URL. */
export type RedisTarget =
  | { readonly kind: 'single'; readonly url: string }
  | {
      readonly kind: 'cluster';
      readonly nodes: readonly { host: string; port: number }[];
      readonly username?: string;
      readonly password?: string;
    };

/** The bus's connections: commands, and pub/sub (the same Cluster object on a cluster). */
export interface RedisConnections {
  readonly target: RedisTarget;
  readonly command: RedisClient;
  readonly subscriber: RedisClient;
  /** True on a cluster: room channels use SSUBSCRIBE/SPUBLISH (sharded pub/sub). */
  readonly sharded: boolean;
  /** Closes every connection. */
  close(): Promise<void>;
}

/** A lost connection is retried after this many ms times the attempt, up to the cap. */
const RECONNECT_STEP_MS = 50;
/** Longest wait between two reconnection attempts: bounds recovery time after a restart. */
const RECONNECT_CAP_MS = 500;
/** A TCP connect that takes longer than this is abandoned and retried. */
const CONNECT_TIMEOUT_MS = 2_000;
/** How often a sharded subscriber connection pings to find a stuck shard. */
const SUBSCRIBER_HEALTH_CHECK_MS = 2_000;
/** `quit` that takes longer than this (server gone) is cut short with `disconnect`. */
const QUIT_TIMEOUT_MS = 1_000;

/**
 * Parses REDIS_URL: `redis://…` and `rediss://…` name one server (ioredis reads the URL);
 * `redis-cluster://[user:password@]host:port,host:port,…` names seed nodes of a Redis Cluster.
 */
export function parseRedisUrl(url: string): RedisTarget {
  if (/^rediss?:\/\//.test(url)) return { kind: 'single', url };

  const match = /^redis-cluster:\/\/(?:([^@]*)@)?([^/?#]+)\/?$/.exec(url);
  if (!match) {
    throw new Error('REDIS_URL must be redis://, rediss:// or redis-cluster://host:port,…');
  }
  const [, auth, hostList] = match;
  const nodes = hostList!.split(',').map((hostPort) => {
    const at = hostPort.lastIndexOf(':');
    const host = at > 0 ? hostPort.slice(0, at) : hostPort;
    const port = at > 0 ? Number(hostPort.slice(at + 1)) : 6379;
    if (host === '' || !Number.isInteger(port) || port <= 0 || port > 65_535) {
      throw new Error(`REDIS_URL has an invalid cluster node "${hostPort}"`);
    }
    return { host: host.replace(/^\[(.*)\]$/, '$1'), port };
  });

  if (auth === undefined) return { kind: 'cluster', nodes };
  const colon = auth.indexOf(':');
  const username = colon >= 0 ? decodeURIComponent(auth.slice(0, colon)) : undefined;
  const password = decodeURIComponent(colon >= 0 ? auth.slice(colon + 1) : auth);
  return { kind: 'cluster', nodes, username: username || undefined, password };
}

/**
 * Opens the bus's connections without waiting for them. Commands fail at once while a
 * connection is down (no offline queue) and are never resent by ioredis after a reconnect: the
 * bus holds and retries writes itself, within its bound, so that a write it gave up on can
 * never reach the log later.
 */
export function openRedisConnections(target: RedisTarget, nodeId: string): RedisConnections {
  const retryStrategy = (attempt: number) =>
    Math.min(attempt * RECONNECT_STEP_MS, RECONNECT_CAP_MS);
  const shared: RedisOptions = {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: null,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy,
  };

  if (target.kind === 'single') {
    const command = new Redis(target.url, { ...shared, connectionName: `weft:${nodeId}:cmd` });
    const subscriber = new Redis(target.url, {
      ...shared,
      connectionName: `weft:${nodeId}:sub`,
      autoResubscribe: true,
    });
    return {
      target,
      command,
      subscriber,
      sharded: false,
      close: () => Promise.all([quit(command), quit(subscriber)]).then(() => undefined),
    };
  }

  const options: ClusterOptions = {
    shardedSubscribers: true,
    shardedSubscriberHealthCheckInterval: SUBSCRIBER_HEALTH_CHECK_MS,
    enableOfflineQueue: false,
    clusterRetryStrategy: retryStrategy,
    // Without it a restarted shard at the same address is only found again through MOVED.
    clusterNodeRetryStrategy: retryStrategy,
    redisOptions: {
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: null,
      connectTimeout: CONNECT_TIMEOUT_MS,
      connectionName: `weft:${nodeId}`,
      username: target.username,
      password: target.password,
    },
  };
  const cluster = new Cluster(
    target.nodes.map((node) => ({ ...node })),
    options,
  );
  return {
    target,
    command: cluster,
    subscriber: cluster,
    sharded: true,
    close: () => quit(cluster),
  };
}

/** One promise per client and outage, so that many waiting writes add one listener only. */
const readyWaits = new WeakMap<RedisClient, Promise<void>>();

/** Resolves once the client is ready, or rejects after `timeoutMs`. */
export function waitForReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();

  let ready = readyWaits.get(client);
  if (!ready) {
    ready = new Promise<void>((resolve) => {
      client.once('ready', () => {
        readyWaits.delete(client);
        resolve();
      });
    });
    readyWaits.set(client, ready);
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Redis was not ready within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  return Promise.race([ready, timeout]).finally(() => clearTimeout(timer));
}

async function quit(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;

  let timer: NodeJS.Timeout | undefined;
  const cutShort = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, QUIT_TIMEOUT_MS);
  });
  try {
    await Promise.race([client.quit().then(() => undefined), cutShort]);
  } catch {
    // Already closed or never connected: disconnect below is enough.
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
