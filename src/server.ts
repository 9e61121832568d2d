import { createHash } from 'node:crypto';

import type { FastifyInstance } from 'fastify';

import { TokenService } from './auth/token-service.js';
import type { Bus } from './cluster/bus.js';
import { LocalBus } from './cluster/local-bus.js';
import { RedisBus } from './cluster/redis-bus.js';
import type { Config } from './config.js';
import type { AppContext } from './http/app-context.js';
import { buildHttpApp } from './http/app.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { RealtimeGateway } from './realtime/realtime-gateway.js';
import { createRealtimeHooks } from './realtime/realtime-hooks.js';
import { RoomRegistry } from './rooms/room-registry.js';
import { openStore, type Store } from './store/store.js';

/** Options of {@link startServer}. */
export interface StartServerOptions {
  config: Config;
  logger: Logger;
  /** The REST secret key (SECRET_KEY, or the development key main.ts created). */
  secretKey: string;
  /**
   * Collect process metrics (CPU, memory, event loop) too; once per process.
   * @default false
   */
  processMetrics?: boolean;
  /**
   * Builds the bus. Tests wrap it to inject faults; the cluster passes its RedisBus.
   * @default a RedisBus when REDIS_URL is set, else a {@link LocalBus} over the store
   */
  createBus?: (deps: { config: Config; logger: Logger; store: Store }) => Bus;
}

/** A running node. */
export interface WeftServer {
  /** `http://host:port` of the listening node. */
  readonly url: string;
  readonly port: number;
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly bus: Bus;
  readonly registry: RoomRegistry;
  readonly gateway: RealtimeGateway;
  readonly context: AppContext;
  /** Drains and stops: refuses new work, closes sockets, flushes, closes the store. */
  close(): Promise<void>;
}

/**
 * Composes and starts one node: store → tokens → bus → rooms → HTTP app and realtime gateway →
 * listen. Importing this module has no side effects, so tests start as many nodes as they like
 * in one process.
 */
export async function startServer(options: StartServerOptions): Promise<WeftServer> {
  const { config, logger, secretKey } = options;
  let draining = false;

  const store = await openStore({ databaseUrl: config.databaseUrl, logger });
  const tokens = await TokenService.open({
    keys: store.signingKeys,
    projectId: projectIdOf(secretKey),
    ttlSeconds: config.limits.tokenTtlSeconds,
  });
  const metrics = new Metrics({ nodeId: config.nodeId, defaultMetrics: options.processMetrics });
  const bus = await openBus(options, store).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  if (bus instanceof RedisBus) metrics.observeBus(bus);
  const registry = new RoomRegistry({ bus, logger, limits: config.limits, metrics });
  const context: AppContext = {
    config,
    logger,
    store,
    tokens,
    metrics,
    bus,
    secretKey,
    isDraining: () => draining,
    realtime: createRealtimeHooks({ registry, rooms: store.rooms, bus, logger }),
    liveRooms: registry,
  };
  const app = buildHttpApp(context);
  const gateway = new RealtimeGateway({
    limits: config.limits,
    logger,
    tokens,
    rooms: store.rooms,
    registry,
    bus,
    metrics,
  });
  gateway.attach(app.server);

  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await gateway.close();
    await registry.close();
    await bus.close();
    await store.close();
    throw error;
  }

  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  logger.info({ port, host: config.host, database: store.dialect }, 'listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    app,
    store,
    bus,
    registry,
    gateway,
    context,
    close() {
      closing ??= (async () => {
        draining = true;
        // Sockets first (no new writes), then rooms (final snapshots), then the log, the
        // HTTP server and the store they write to.
        await gateway.close();
        await registry.close();
        await bus.close();
        await app.close();
        await store.close();
        logger.info('stopped');
      })();
      return closing;
    },
  };
}

/**
 * The node's bus: the one a test passes, a {@link RedisBus} when REDIS_URL is set (a cluster),
 * else a {@link LocalBus} over the store.
 */
async function openBus(options: StartServerOptions, store: Store): Promise<Bus> {
  const { config, logger } = options;
  const injected = options.createBus?.({ config, logger, store });
  if (injected) return injected;
  if (config.redisUrl === undefined) {
    return new LocalBus({
      nodeId: config.nodeId,
      roomLog: store.roomLog,
      rooms: store.rooms,
      logger,
    });
  }
  return RedisBus.open({
    redisUrl: config.redisUrl,
    store,
    nodeId: config.nodeId,
    logger,
    appendTimeoutMs: config.limits.writeStallTimeoutMs,
  });
}

/**
 * The `pid` claim: a stable, non-secret id derived from the secret key, so that every node of
 * one project names the same project without another setting.
 */
function projectIdOf(secretKey: string): string {
  return `weft_${createHash('sha256').update(secretKey).digest('hex').slice(0, 16)}`;
}
