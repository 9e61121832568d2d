import os from 'node:os';
import path from 'node:path';

/** Where the REST secret key came from; `generated` means a development key in `$DATA_DIR`. */
export type SecretKeySource = 'env' | 'generated';

/**
 * Limits that protect a node from clients and from itself. Each has an environment variable
 * (the name in brackets) and is listed in the README's configuration table.
 */
export interface Limits {
  /**
   * Largest REST body or socket frame accepted, in bytes. Protects memory and the event loop.
   * [MAX_MESSAGE_BYTES]
   * @default 1_048_576 (1 MiB)
   */
  readonly maxMessageBytes: number;
  /**
   * Connections one room accepts on one node; more are closed with 4005 (room full).
   * [MAX_CONNECTIONS_PER_ROOM]
   * @default 100
   */
  readonly maxConnectionsPerRoom: number;
  /**
   * Messages per second one connection may send (a one-second window, pings included). Past it
   * the server stops reading that socket until the window ends, so that a runaway client is
   * slowed by TCP instead of starving the room; nothing it sent is dropped.
   * [MAX_MESSAGES_PER_SECOND]
   * @default 200
   */
  readonly maxMessagesPerSecond: number;
  /**
   * Bytes a socket may have queued for sending before it is treated as a slow consumer and
   * closed (1013, so the client reconnects). Protects memory from readers that stopped reading.
   * [MAX_OUTBOUND_BUFFER_BYTES]
   * @default 8_388_608 (8 MiB)
   */
  readonly maxOutboundBufferBytes: number;
  /**
   * Time a new socket has to complete authentication and the join before it is closed.
   * [HANDSHAKE_TIMEOUT_MS]
   * @default 10_000
   */
  readonly handshakeTimeoutMs: number;
  /**
   * Interval of the server's WebSocket ping; a socket that misses two pongs is terminated.
   * [PING_INTERVAL_MS]
   * @default 30_000
   */
  readonly pingIntervalMs: number;
  /**
   * Rooms one node keeps in memory; a join that would load one more is refused with 1013 (retry
   * later) when no idle room can be unloaded. [MAX_ROOMS_LOADED]
   * @default 10_000
   */
  readonly maxRoomsLoaded: number;
  /**
   * How long a room stays loaded after its last local connection left.
   * [ROOM_IDLE_UNLOAD_MS]
   * @default 30_000
   */
  readonly roomIdleUnloadMs: number;
  /**
   * How long a durable write may wait for the log (Redis down, database busy) before the
   * affected sockets are closed with 1013 so that clients reconnect and resend.
   * [WRITE_STALL_TIMEOUT_MS]
   * @default 10_000
   */
  readonly writeStallTimeoutMs: number;
  /**
   * Log entries after which a room writes a snapshot and trims its log.
   * [SNAPSHOT_EVERY_ENTRIES]
   * @default 500
   */
  readonly snapshotEveryEntries: number;
  /**
   * Lifetime of minted ID and access tokens, in seconds. [TOKEN_TTL_SECONDS]
   * @default 3_600
   */
  readonly tokenTtlSeconds: number;
}

/** The node's whole configuration, read once from the environment and frozen. */
export interface Config {
  /** @default 8080; 0 picks a free port (the chosen one is logged) */
  readonly port: number;
  /** @default '127.0.0.1' */
  readonly host: string;
  /** Unset: main.ts creates a development key in `$DATA_DIR/secret-key`. */
  readonly secretKey: string | undefined;
  /** @default './data' */
  readonly dataDir: string;
  /** @default `sqlite:$DATA_DIR/weft.db` */
  readonly databaseUrl: string;
  /** Unset means a single node with the in-process bus. */
  readonly redisUrl: string | undefined;
  /** @default 'info' */
  readonly logLevel: string;
  /** Name of this node in logs and metrics. [NODE_ID] @default `<hostname>-<pid>` */
  readonly nodeId: string;
  /** True when NODE_ENV is `production`. */
  readonly production: boolean;
  readonly limits: Limits;
}

/** Thrown when an environment variable is invalid; the message names the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Default limits, exported for tests and for the README table. */
export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxMessageBytes: 1024 * 1024,
  maxConnectionsPerRoom: 100,
  maxMessagesPerSecond: 200,
  maxOutboundBufferBytes: 8 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  pingIntervalMs: 30_000,
  maxRoomsLoaded: 10_000,
  roomIdleUnloadMs: 30_000,
  writeStallTimeoutMs: 10_000,
  snapshotEveryEntries: 500,
  tokenTtlSeconds: 3_600,
});

/** Environment variable of each limit. */
export const LIMIT_ENV: Readonly<Record<keyof Limits, string>> = Object.freeze({
  maxMessageBytes: 'MAX_MESSAGE_BYTES',
  maxConnectionsPerRoom: 'MAX_CONNECTIONS_PER_ROOM',
  maxMessagesPerSecond: 'MAX_MESSAGES_PER_SECOND',
  maxOutboundBufferBytes: 'MAX_OUTBOUND_BUFFER_BYTES',
  handshakeTimeoutMs: 'HANDSHAKE_TIMEOUT_MS',
  pingIntervalMs: 'PING_INTERVAL_MS',
  maxRoomsLoaded: 'MAX_ROOMS_LOADED',
  roomIdleUnloadMs: 'ROOM_IDLE_UNLOAD_MS',
  writeStallTimeoutMs: 'WRITE_STALL_TIMEOUT_MS',
  snapshotEveryEntries: 'SNAPSHOT_EVERY_ENTRIES',
  tokenTtlSeconds: 'TOKEN_TTL_SECONDS',
});

/**
 * Reads the configuration from an environment (normally `process.env`, passed in by main.ts).
 * Throws a {@link ConfigError} naming the first bad variable.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const dataDir = nonEmpty(env, 'DATA_DIR') ?? './data';
  const databaseUrl = nonEmpty(env, 'DATABASE_URL') ?? `sqlite:${path.join(dataDir, 'weft.db')}`;
  const redisUrl = nonEmpty(env, 'REDIS_URL');
  const secretKey = nonEmpty(env, 'SECRET_KEY');
  const production = env.NODE_ENV === 'production';
  const logLevel = nonEmpty(env, 'LOG_LEVEL') ?? 'info';

  if (!LOG_LEVELS.has(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${[...LOG_LEVELS].join(', ')}`);
  }
  if (!/^(sqlite:|postgres:\/\/|postgresql:\/\/)/.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must start with sqlite:, postgres:// or postgresql://');
  }
  if (redisUrl !== undefined && !/^(rediss?:\/\/|redis-cluster:\/\/)/.test(redisUrl)) {
    throw new ConfigError('REDIS_URL must start with redis://, rediss:// or redis-cluster://');
  }
  if (secretKey !== undefined && !/^sk_[A-Za-z0-9_-]{8,}$/.test(secretKey)) {
    throw new ConfigError('SECRET_KEY must look like sk_… (at least 8 letters, digits, _ or -)');
  }
  if (secretKey === undefined) {
    const why = production
      ? 'NODE_ENV is production'
      : redisUrl !== undefined
        ? 'REDIS_URL is set (every node must share the key)'
        : databaseUrl.startsWith('postgres')
          ? 'DATABASE_URL is Postgres (every node must share the key)'
          : undefined;
    if (why !== undefined) throw new ConfigError(`SECRET_KEY is required because ${why}`);
  }

  const limits = Object.fromEntries(
    (Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]).map((name) => [
      name,
      positiveInteger(env, LIMIT_ENV[name], DEFAULT_LIMITS[name]),
    ]),
  ) as unknown as Limits;

  return Object.freeze({
    port: integer(env, 'PORT', 8080, 0, 65_535),
    host: nonEmpty(env, 'HOST') ?? '127.0.0.1',
    secretKey,
    dataDir,
    databaseUrl,
    redisUrl,
    logLevel,
    nodeId: nonEmpty(env, 'NODE_ID') ?? `${os.hostname()}-${process.pid}`,
    production,
    limits: Object.freeze(limits),
  });
}

function nonEmpty(env: Readonly<Record<string, string | undefined>>, name: string) {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function integer(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return fallback;

  const value = Number(raw.replaceAll('_', ''));
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function positiveInteger(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  fallback: number,
) {
  return integer(env, name, fallback, 1, Number.MAX_SAFE_INTEGER);
}
