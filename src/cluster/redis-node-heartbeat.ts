import type { Logger } from '../log.js';
import type { RedisClient } from './redis-connection.js';
import { NODES_KEY } from './redis-keys.js';
import { runScript } from './redis-scripts.js';

/** Options of {@link NodeHeartbeat}. */
export interface NodeHeartbeatOptions {
  readonly client: RedisClient;
  readonly nodeId: string;
  readonly logger: Logger;
  /** Time between two beats of this node, which also check the others. Milliseconds. */
  readonly intervalMs: number;
  /** A node whose last beat is older than this is down. Milliseconds. */
  readonly timeoutMs: number;
  /** Called with nodes newly found down (each reported once until it beats again). */
  readonly onNodesDown: (nodeIds: readonly string[]) => void;
}

/** A down node stays listed this many timeouts, so that every node sees it before it goes. */
const FORGET_AFTER_TIMEOUTS = 10;

/**
 * Node liveness through one sorted set (`weft:nodes`, scored by Redis time, so that clocks of
 * the nodes do not matter). Each beat records this node and returns the nodes whose last beat
 * is older than the timeout; each is reported once. After this node could not beat for a
 * timeout (Redis, or the shard of the set, was away), it reports nothing for one more timeout:
 * every node's beats stopped during the outage, and the live ones need that long to beat again.
 */
export class NodeHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  private reported = new Set<string>();
  private quietUntil = 0;
  private lastBeatAt = 0;
  private lastRoundTrip = 0;

  constructor(private readonly options: NodeHeartbeatOptions) {}

  /** Milliseconds the last beat took: the Redis round trip seen by this node. */
  get roundTripMs(): number {
    return this.lastRoundTrip;
  }

  /** Beats now and then every interval. */
  start(): void {
    if (this.timer) return;
    this.lastBeatAt = Date.now();
    this.timer = setInterval(() => void this.beat(), this.options.intervalMs);
    this.timer.unref();
    void this.beat();
  }

  /** Stops beating and marks this node down, so that the others drop its state at once. */
  async stop(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    try {
      await runScript(this.options.client, 'weftHeartbeat', [NODES_KEY], this.args('leave'));
    } catch (error) {
      this.options.logger.debug({ err: error }, 'node leave not recorded');
    }
  }

  /** One beat; skipped while the previous one still waits for Redis. */
  async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    const startedAt = performance.now();
    try {
      const reply = (await runScript(
        this.options.client,
        'weftHeartbeat',
        [NODES_KEY],
        this.args('beat'),
      )) as [number, string[]];
      this.lastRoundTrip = performance.now() - startedAt;
      const now = Date.now();
      if (now - this.lastBeatAt > this.options.timeoutMs) {
        this.quietUntil = now + this.options.timeoutMs;
      }
      this.lastBeatAt = now;
      const [wasStale, stale] = reply;
      if (wasStale === 1) {
        this.options.logger.warn(
          'this node missed its heartbeats; peers may have dropped its state',
        );
      }
      this.report(stale);
    } catch (error) {
      this.options.logger.debug({ err: error }, 'heartbeat failed');
    } finally {
      this.beating = false;
    }
  }

  private report(stale: readonly string[]): void {
    const staleSet = new Set(stale.filter((id) => id !== this.options.nodeId));
    // A node that beats again (or was forgotten) may be reported again when it stops later.
    for (const id of this.reported) if (!staleSet.has(id)) this.reported.delete(id);
    if (Date.now() < this.quietUntil) return;

    const down = [...staleSet].filter((id) => !this.reported.has(id));
    if (down.length === 0) return;
    for (const id of down) this.reported.add(id);
    this.options.logger.info({ nodes: down }, 'nodes down');
    this.options.onNodesDown(down);
  }

  private args(mode: 'beat' | 'leave'): string[] {
    const { nodeId, timeoutMs } = this.options;
    return [nodeId, String(timeoutMs), String(timeoutMs * FORGET_AFTER_TIMEOUTS), mode];
  }
}
