import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';

import { WebSocketServer, type WebSocket } from 'ws';

import type { TokenService } from '../auth/token-service.js';
import type { Bus } from '../cluster/bus.js';
import type { Limits } from '../config.js';
import { WeftError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { RoomRegistry } from '../rooms/room-registry.js';
import type { RoomRepository } from '../store/room-repository.js';
import type { SessionDeps } from './client-session.js';
import { ClientSocket } from './client-socket.js';
import { Heartbeat } from './heartbeat.js';
import type { JoinRequest } from './join-authorization.js';
import { LiveblocksSession } from './liveblocks-session.js';
import { YwsSession } from './yws-session.js';

/** How long shutdown waits for sockets to finish their closing handshake, in ms. */
const SHUTDOWN_CLOSE_WAIT_MS = 3_000;

/** Options of {@link RealtimeGateway}. */
export interface RealtimeGatewayOptions {
  limits: Limits;
  logger: Logger;
  tokens: TokenService;
  rooms: RoomRepository;
  registry: RoomRegistry;
  bus: Bus;
  /** Where connections, frames and closes are counted. */
  metrics?: Metrics;
}

/** Where an upgrade request goes. */
type Route =
  | { protocol: 'liveblocks'; version: 7 | 8; request: JoinRequest }
  | { protocol: 'yws'; request: JoinRequest };

/**
 * The WebSocket side of a node, on the HTTP server's port: `/v7` and `/v8` speak the Liveblocks
 * protocol, `/y/{roomId}` speaks y-websocket. Every upgrade to a known path is accepted and then
 * authenticated, because browsers cannot read the HTTP status of a refused upgrade: a refusal
 * is a close code the client understands.
 */
export class RealtimeGateway {
  private readonly wss: WebSocketServer;
  private readonly heartbeat: Heartbeat;
  private readonly sockets = new Set<ClientSocket>();
  private readonly log: Logger;
  private readonly deps: SessionDeps;
  private connections = 0;
  private accepting = true;

  constructor(private readonly options: RealtimeGatewayOptions) {
    this.log = options.logger.child({ component: 'realtime' });
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.limits.maxMessageBytes,
      perMessageDeflate: false,
    });
    this.heartbeat = new Heartbeat(options.limits.pingIntervalMs);
    this.deps = {
      tokens: options.tokens,
      rooms: options.rooms,
      registry: options.registry,
      bus: options.bus,
      limits: options.limits,
      metrics: options.metrics,
    };
  }

  /**
   * Handles upgrades of the HTTP server, and drops connections that have not sent a complete
   * request (upgrade or REST) within the handshake timeout: a half-sent request holds a
   * socket and a parser for as long as the client likes otherwise.
   */
  attach(server: Server): void {
    const pending = new WeakMap<Duplex, NodeJS.Timeout>();
    const settle = (socket: Duplex) => {
      clearTimeout(pending.get(socket));
      pending.delete(socket);
    };
    server.on('connection', (socket: Duplex) => {
      const timer = setTimeout(() => {
        this.log.info({ ms: this.options.limits.handshakeTimeoutMs }, 'incomplete request dropped');
        socket.destroy();
      }, this.options.limits.handshakeTimeoutMs);
      timer.unref();
      pending.set(socket, timer);
      socket.once('close', () => settle(socket));
    });
    server.on('request', (request: IncomingMessage) => settle(request.socket));
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      settle(socket);
      this.upgrade(request, socket, head);
    });
  }

  /** Local connections in every room. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Refuses new sockets and closes the open ones with SHUTTING_DOWN (1012). */
  async close(): Promise<void> {
    this.accepting = false;
    this.heartbeat.stop();

    const closed = [...this.sockets].map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.ws.readyState === socket.ws.CLOSED) return resolve();
          socket.ws.once('close', () => resolve());
          socket.close(new WeftError('SHUTTING_DOWN'));
        }),
    );
    await Promise.race([
      Promise.all(closed),
      new Promise((resolve) => setTimeout(resolve, SHUTDOWN_CLOSE_WAIT_MS).unref()),
    ]);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer) {
    // A reset during the handshake must not surface as an uncaught error.
    socket.on('error', () => socket.destroy());

    const route = routeOf(request.url ?? '/');
    if (!route) return refuseUpgrade(socket, 404, 'Not Found');
    if (!this.accepting) return refuseUpgrade(socket, 503, 'Service Unavailable');

    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, route));
  }

  private accept(ws: WebSocket, route: Route) {
    this.connections += 1;
    const log = this.log.child({ conn: this.connections });
    const socket = new ClientSocket({
      ws,
      logger: log,
      limits: this.options.limits,
      protocol: route.protocol === 'yws' ? 'yjs' : 'liveblocks',
      metrics: this.options.metrics,
    });
    this.sockets.add(socket);
    ws.once('close', () => this.sockets.delete(socket));
    this.heartbeat.watch(ws, log);
    log.debug({ protocol: route.protocol }, 'connection opened');

    const session =
      route.protocol === 'yws'
        ? new YwsSession(socket, this.deps, route.request)
        : new LiveblocksSession(socket, this.deps, route.request, route.version);
    session.start();
  }
}

/** Parses an upgrade URL; undefined for paths that are not sockets. */
function routeOf(rawUrl: string): Route | undefined {
  let url: URL;
  try {
    url = new URL(rawUrl, 'http://localhost');
  } catch {
    return undefined;
  }
  const query = url.searchParams;
  if (url.pathname === '/v8' || url.pathname === '/v7') {
    return {
      protocol: 'liveblocks',
      version: url.pathname === '/v8' ? 8 : 7,
      request: { roomId: query.get('roomId') ?? undefined, token: query.get('tok') ?? undefined },
    };
  }
  if (url.pathname.startsWith('/y/') && url.pathname.length > 3) {
    let roomId: string | undefined;
    try {
      roomId = decodeURIComponent(url.pathname.slice(3));
    } catch {
      roomId = undefined;
    }
    return { protocol: 'yws', request: { roomId, token: query.get('token') ?? undefined } };
  }
  return undefined;
}

function refuseUpgrade(socket: Duplex, status: number, text: string) {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
