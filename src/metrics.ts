import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What a cluster bus reports to the metrics, read at each scrape. */
export interface BusFigures {
  /** Milliseconds the last heartbeat call to Redis took. */
  readonly roundTripMs: number;
  /** Log entries the node has not delivered yet, over its rooms. */
  readonly logLag: number;
  /** Log reads that delivered entries pub/sub had missed, since the node started. */
  readonly gapRepairs: number;
  /** True while the node's Redis connections are up. */
  readonly connected: boolean;
}

/**
 * The Prometheus metrics of one node, in a registry of its own (not prom-client's global one)
 * so that tests can run several nodes in one process. Served at `GET /metrics`.
 *
 * Labels carry the organization where an operator needs per-tenant figures; there is one
 * series per organization, so a project with very many organizations grows the scrape.
 */
export class Metrics {
  readonly registry = new Registry();

  /** Open sockets by protocol (`liveblocks`, `yjs`) and organization. */
  readonly connections = new Gauge({
    name: 'weft_connections',
    help: 'Open WebSocket connections',
    labelNames: ['protocol', 'org'] as const,
    registers: [this.registry],
  });

  /** Rooms held in memory on this node, by organization. */
  readonly roomsLoaded = new Gauge({
    name: 'weft_rooms_loaded',
    help: 'Rooms loaded in memory on this node',
    labelNames: ['org'] as const,
    registers: [this.registry],
  });

  /** Socket messages received, by protocol and kind. */
  readonly messagesReceived = new Counter({
    name: 'weft_messages_received_total',
    help: 'Socket messages received',
    labelNames: ['protocol', 'kind'] as const,
    registers: [this.registry],
  });

  /** Socket frames sent. */
  readonly framesSent = new Counter({
    name: 'weft_frames_sent_total',
    help: 'Socket frames sent',
    labelNames: ['protocol'] as const,
    registers: [this.registry],
  });

  /** Sockets closed by the server, by close code. */
  readonly closes = new Counter({
    name: 'weft_socket_closes_total',
    help: 'Sockets closed by the server, by close code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  /** Time from a durable write's arrival to its place in the room log. */
  readonly appendSeconds = new Histogram({
    name: 'weft_log_append_seconds',
    help: 'Time to append a durable write to the room log',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });

  /** Entries appended to room logs. */
  readonly logEntries = new Counter({
    name: 'weft_log_entries_total',
    help: 'Entries appended to room logs',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  /** Redis round-trip time of the node's latest heartbeat (a cluster node only). */
  readonly redisRoundTripSeconds = new Gauge({
    name: 'weft_redis_round_trip_seconds',
    help: 'Round trip of the latest Redis heartbeat call',
    registers: [this.registry],
    collect: () => {
      if (this.bus) this.redisRoundTripSeconds.set(this.bus.roundTripMs / 1000);
    },
  });

  /** 1 while the node's Redis connections are up (a cluster node only). */
  readonly redisConnected = new Gauge({
    name: 'weft_redis_connected',
    help: '1 while the Redis command and subscriber connections are up',
    registers: [this.registry],
    collect: () => {
      if (this.bus) this.redisConnected.set(this.bus.connected ? 1 : 0);
    },
  });

  /** Log entries the node has not delivered yet, over its rooms (a cluster node only). */
  readonly logLag = new Gauge({
    name: 'weft_log_lag_entries',
    help: 'Room log entries in Redis not yet delivered on this node, at the last tail check',
    registers: [this.registry],
    collect: () => {
      if (this.bus) this.logLag.set(this.bus.logLag);
    },
  });

  /** Log entries delivered late: seq gaps repaired from the log. */
  readonly gapRepairs = new Counter({
    name: 'weft_log_gap_repairs_total',
    help: 'Gaps in a room log sequence repaired by reading the log',
    registers: [this.registry],
    collect: () => {
      // The bus counts; the counter catches up with it at each scrape.
      const added = (this.bus?.gapRepairs ?? 0) - this.gapRepairsCounted;
      if (added <= 0) return;
      this.gapRepairs.inc(added);
      this.gapRepairsCounted += added;
    },
  });

  /** REST requests by method, route pattern and status. */
  readonly httpRequests = new Counter({
    name: 'weft_http_requests_total',
    help: 'REST requests',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  private bus: BusFigures | undefined;
  private gapRepairsCounted = 0;

  constructor(options: { nodeId: string; defaultMetrics?: boolean }) {
    this.registry.setDefaultLabels({ node: options.nodeId });
    // Process metrics (CPU, memory, event loop lag) only once per process: the composition
    // root asks for them; test nodes sharing a process do not.
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Reads the Redis figures of a cluster node's bus at every scrape. */
  observeBus(bus: BusFigures): void {
    this.bus = bus;
  }

  /** The Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
