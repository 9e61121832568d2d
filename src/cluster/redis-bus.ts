import { randomBytes } from 'node:crypto';

import type { Logger } from '../log.js';
import type {
  Bus,
  EphemeralMessage,
  RoomBusHandler,
  RoomChange,
  RoomHistory,
  RoomKey,
  RoomSubscription,
} from './bus.js';
import { RedisAppender } from './redis-appender.js';
import {
  openRedisConnections,
  parseRedisUrl,
  waitForReady,
  type RedisConnections,
} from './redis-connection.js';
import { decodeFrame, encodeEphemeralFrame, encodeProbeFrame } from './redis-frames.js';
import { ROOM_CHANGES_CHANNEL, roomKeys, type RoomKeys } from './redis-keys.js';
import { NodeHeartbeat } from './redis-node-heartbeat.js';
import { RedisRoomLog, type RedisBusStore } from './redis-room-log.js';
import { RedisRoomSubscription } from './redis-room-subscription.js';
import { defineScripts } from './redis-scripts.js';

export type { RedisBusStore } from './redis-room-log.js';

/** Options of {@link RedisBus.open}. */
export interface RedisBusOptions {
  /** `redis://…`, `rediss://…` or `redis-cluster://host:port,…` [REDIS_URL] */
  readonly redisUrl: string;
  /** Where snapshots go (Postgres in a cluster) and where actor counters survive Redis. */
  readonly store: RedisBusStore;
  /** This node's id, unique among live nodes. [NODE_ID] */
  readonly nodeId: string;
  readonly logger: Logger;
  /**
   * How long an append (and a subscribe's first read) may wait for Redis before it is rejected
   * with WRITE_STALLED. Milliseconds. [WRITE_STALL_TIMEOUT_MS]
   * @default 10_000
   */
  readonly appendTimeoutMs?: number;
  /**
   * How long {@link RedisBus.open} waits for the first connection. Milliseconds.
   * @default 10_000
   */
  readonly connectTimeoutMs?: number;
  /**
   * Time between two heartbeats of this node (each also checks the others). Milliseconds.
   * @default 1_000
   */
  readonly heartbeatIntervalMs?: number;
  /**
   * A node that did not beat for this long is down: the others drop its users' presence.
   * Milliseconds; at least twice the heartbeat interval.
   * @default 4_000
   */
  readonly nodeTimeoutMs?: number;
  /**
   * How often each subscription compares the room's counter with what it delivered, to catch
   * entries pub/sub lost without a reconnect. Milliseconds.
   * @default 2_000
   */
  readonly tailCheckIntervalMs?: number;
  /**
   * Lifetime of the snapshot lease: longer than a snapshot takes to write. Milliseconds.
   * @default 10_000
   */
  readonly snapshotLeaseMs?: number;
  /**
   * Entries kept in the stream behind a snapshot, so that a node that fell behind (a long
   * reconnect) can still read what it missed instead of skipping it.
   * @default 1_000
   */
  readonly trimRetainEntries?: number;
}

/** Room counters one tail check reads per MGET on a single server. */
const TAIL_CHECK_KEYS_PER_CALL = 500;
/** How long a readiness ping may take. Milliseconds. */
const READY_PING_TIMEOUT_MS = 1_000;

interface ChannelState {
  readonly keys: RoomKeys;
  readonly subscriptions: Set<RedisRoomSubscription>;
  /** Settles when the channel subscription is in place. */
  subscribed: Promise<void>;
}

/**
 * The cluster bus: each room's durable log is a Redis stream, ordered by one Lua script that
 * assigns seqs and publishes each batch with its predecessor's seq; subscribers repair gaps from
 * the stream. Ephemeral messages ride pub/sub only. Snapshots go to the store under a Redis
 * lease. On a Redis Cluster every key and channel of a room sits on one shard (hash tag) and
 * fan-out uses sharded pub/sub.
 */
export class RedisBus implements Bus {
  readonly nodeId: string;
  private readonly logger: Logger;
  private readonly appender: RedisAppender;
  private readonly log: RedisRoomLog;
  private readonly heartbeat: NodeHeartbeat;
  private readonly channels = new Map<string, ChannelState>();
  /** Highest seq this node appended per room (by tag), while the room is subscribed here. */
  private readonly appended = new Map<string, number>();
  private readonly settings: Required<
    Omit<RedisBusOptions, 'redisUrl' | 'store' | 'nodeId' | 'logger'>
  >;
  private tailTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private repairs = 0;
  private repairedEntries = 0;
  private roomChangeHandler: ((change: RoomChange, fromNode: string) => void) | undefined;

  private constructor(
    private readonly connections: RedisConnections,
    store: RedisBusStore,
    options: RedisBusOptions,
  ) {
    this.nodeId = options.nodeId;
    this.logger = options.logger.child({ component: 'redis-bus' });
    this.settings = {
      appendTimeoutMs: options.appendTimeoutMs ?? 10_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1_000,
      nodeTimeoutMs: options.nodeTimeoutMs ?? 4_000,
      tailCheckIntervalMs: options.tailCheckIntervalMs ?? 2_000,
      snapshotLeaseMs: options.snapshotLeaseMs ?? 10_000,
      trimRetainEntries: options.trimRetainEntries ?? 1_000,
    };
    if (this.settings.nodeTimeoutMs < 2 * this.settings.heartbeatIntervalMs) {
      throw new Error('nodeTimeoutMs must be at least twice heartbeatIntervalMs');
    }

    this.appender = new RedisAppender({
      client: connections.command,
      nodeId: this.nodeId,
      sessionId: randomBytes(6).toString('hex'),
      publishCommand: connections.sharded ? 'SPUBLISH' : 'PUBLISH',
      timeoutMs: this.settings.appendTimeoutMs,
      logger: this.logger,
      floor: (_room, keys) => this.knownSeq(keys),
    });
    this.log = new RedisRoomLog({
      client: connections.command,
      store,
      nodeId: this.nodeId,
      logger: this.logger,
      timeoutMs: this.settings.appendTimeoutMs,
      snapshotLeaseMs: this.settings.snapshotLeaseMs,
      trimRetainEntries: this.settings.trimRetainEntries,
    });
    this.heartbeat = new NodeHeartbeat({
      client: connections.command,
      nodeId: this.nodeId,
      logger: this.logger,
      intervalMs: this.settings.heartbeatIntervalMs,
      timeoutMs: this.settings.nodeTimeoutMs,
      onNodesDown: (nodeIds) => {
        for (const subscription of this.allSubscriptions()) subscription.nodesDown(nodeIds);
      },
    });
  }

  /**
   * Connects to Redis (waiting up to `connectTimeoutMs`) and starts heartbeats. Rejects, with
   * every connection closed, when Redis does not answer in time.
   */
  static async open(options: RedisBusOptions): Promise<RedisBus> {
    const connections = openRedisConnections(parseRedisUrl(options.redisUrl), options.nodeId);
    const bus = new RedisBus(connections, options.store, options);
    try {
      await bus.start();
    } catch (error) {
      await bus.close();
      throw error;
    }
    return bus;
  }

  /** The Redis round trip of the last heartbeat, in milliseconds (a metric). */
  get roundTripMs(): number {
    return this.heartbeat.roundTripMs;
  }

  /**
   * Entries the log had at the last tail check that this node has not delivered yet, summed
   * over its rooms (a metric).
   */
  get logLag(): number {
    let lag = 0;
    for (const subscription of this.allSubscriptions()) lag += subscription.lag;
    return lag;
  }

  /** Log reads that delivered entries pub/sub had missed, since the bus opened (a metric). */
  get gapRepairs(): number {
    return this.repairs;
  }

  /** Entries those repairs delivered (a metric). */
  get repairedEntryCount(): number {
    return this.repairedEntries;
  }

  /** True while the command and subscriber connections are both up (a metric). */
  get connected(): boolean {
    const { command, subscriber } = this.connections;
    return !this.closed && command.status === 'ready' && subscriber.status === 'ready';
  }

  /**
   * Appends, then waits until this node's own subscriptions of the room delivered the entries:
   * a room acknowledges a write only after it applied it, as on a single node.
   */
  async append(room: RoomKey, entries: readonly Uint8Array[]): Promise<number[]> {
    const seqs = await this.appender.append(room, entries);
    const last = seqs.at(-1);
    const channel = this.channels.get(roomKeys(room).channel);
    if (last === undefined || !channel) return seqs;

    this.appended.set(channel.keys.tag, Math.max(this.appended.get(channel.keys.tag) ?? 0, last));
    await Promise.all(
      [...channel.subscriptions].map((subscription) => subscription.awaitDelivery(last)),
    );
    return seqs;
  }

  async subscribe(
    room: RoomKey,
    afterSeq: number,
    handler: RoomBusHandler,
  ): Promise<RoomSubscription> {
    if (this.closed) throw new Error('the bus is closed');

    const keys = roomKeys(room);
    const deadline = Date.now() + this.settings.appendTimeoutMs;
    const logger = this.logger.child({ org: room.organizationId, room: room.roomId });
    const subscription = new RedisRoomSubscription(afterSeq, handler, {
      logger,
      readPage: (after) => this.log.readPage(keys, after, after),
      sendProbe: (token) => this.publishFrame(keys, encodeProbeFrame(this.nodeId, token)),
      detach: (closing) => this.detach(keys, closing),
      repaired: (entries) => {
        this.repairs++;
        this.repairedEntries += entries;
        logger.info({ entries }, 'room log gap repaired');
      },
    });

    let channel = this.channels.get(keys.channel);
    if (!channel) {
      channel = { keys, subscriptions: new Set(), subscribed: Promise.resolve() };
      channel.subscribed = this.subscribeChannel(keys.channel, deadline);
      this.channels.set(keys.channel, channel);
    }
    channel.subscriptions.add(subscription);
    try {
      await channel.subscribed;
      await subscription.start(deadline);
    } catch (error) {
      await subscription.close();
      throw error;
    }
    return subscription;
  }

  history(room: RoomKey): Promise<RoomHistory> {
    return this.log.history(room);
  }

  publish(room: RoomKey, message: EphemeralMessage): void {
    if (this.closed) return;
    const keys = roomKeys(room);
    this.publishFrame(keys, encodeEphemeralFrame(this.nodeId, message)).catch((error: unknown) => {
      // At most once by contract: a message lost while Redis is away is not retried.
      this.logger.debug({ err: error }, 'ephemeral message not published');
    });
  }

  nextActor(room: RoomKey): Promise<number> {
    return this.log.nextActor(room);
  }

  snapshot(room: RoomKey, seq: number, data: Uint8Array): Promise<boolean> {
    return this.log.snapshot(room, seq, data);
  }

  async forget(room: RoomKey): Promise<void> {
    await this.log.forget(room);
    this.appended.delete(roomKeys(room).tag);
  }

  moveRoom(from: RoomKey, to: RoomKey): Promise<void> {
    return this.log.moveRoom(from, to);
  }

  publishRoomChange(change: RoomChange): void {
    if (this.closed) return;
    const frame = Buffer.from(JSON.stringify({ node: this.nodeId, change }));
    const { command, sharded } = this.connections;
    const sent = sharded
      ? command.spublish(ROOM_CHANGES_CHANNEL, frame)
      : command.publish(ROOM_CHANGES_CHANNEL, frame);
    sent.catch((error: unknown) => {
      // At most once: a node that misses it keeps serving the room until its clients leave.
      this.logger.warn({ err: error, room: change.roomId }, 'room change not published');
    });
  }

  onRoomChange(handler: (change: RoomChange, fromNode: string) => void): void {
    this.roomChangeHandler = handler;
  }

  async ready(): Promise<boolean> {
    if (this.closed) return false;
    try {
      await waitForReady(this.connections.command, READY_PING_TIMEOUT_MS);
      return (await this.connections.command.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.tailTimer);
    this.appender.close();
    await this.heartbeat.stop();
    await Promise.all([...this.allSubscriptions()].map((subscription) => subscription.close()));
    await this.connections.close();
  }

  private async start(): Promise<void> {
    const { command, subscriber, sharded } = this.connections;
    defineScripts(command);
    command.on('error', (error: Error) => this.logger.debug({ err: error }, 'redis error'));
    if (subscriber !== command) {
      subscriber.on('error', (error: Error) => this.logger.debug({ err: error }, 'redis error'));
    }

    subscriber.on(
      sharded ? 'smessageBuffer' : 'messageBuffer',
      (channel: Buffer, message: Buffer) => this.dispatch(channel.toString(), message),
    );
    // Messages published while a subscriber connection was away are gone: every room resyncs
    // from its log once its channel delivers again.
    if (sharded) {
      subscriber.on('subscribersReady', () => this.resyncAll());
      subscriber.on('-node', () => this.resyncAll());
    } else {
      let connectedBefore = false;
      subscriber.on('ready', () => {
        if (connectedBefore) this.resyncAll();
        connectedBefore = true;
      });
    }

    await Promise.all([
      waitForReady(command, this.settings.connectTimeoutMs),
      waitForReady(subscriber, this.settings.connectTimeoutMs),
    ]);
    await (sharded
      ? subscriber.ssubscribe(ROOM_CHANGES_CHANNEL)
      : subscriber.subscribe(ROOM_CHANGES_CHANNEL));
    this.heartbeat.start();
    this.tailTimer = setInterval(() => void this.checkTails(), this.settings.tailCheckIntervalMs);
    this.tailTimer.unref();
  }

  private dispatch(channelName: string, message: Buffer): void {
    if (channelName === ROOM_CHANGES_CHANNEL) {
      this.receiveRoomChange(message);
      return;
    }
    const channel = this.channels.get(channelName);
    if (!channel) return;
    const frame = decodeFrame(message);
    if (!frame) {
      this.logger.warn({ channel: channelName }, 'malformed bus frame dropped');
      return;
    }

    for (const subscription of channel.subscriptions) {
      if (frame.kind === 'entries') subscription.receiveEntries(frame);
      else if (frame.kind === 'ephemeral') {
        if (frame.fromNode !== this.nodeId)
          subscription.receiveEphemeral(frame.message, frame.fromNode);
      } else if (frame.node === this.nodeId) subscription.receiveProbe(frame.token);
    }
  }

  private receiveRoomChange(message: Buffer): void {
    let parsed: { node?: unknown; change?: Partial<RoomChange> & Record<string, unknown> };
    try {
      parsed = JSON.parse(message.toString('utf8')) as typeof parsed;
    } catch {
      parsed = {};
    }
    const { node, change } = parsed;
    const valid =
      typeof node === 'string' &&
      typeof change?.roomId === 'string' &&
      (change.type === 'deleted' ||
        change.type === 'updated' ||
        (change.type === 'renamed' && typeof change.newRoomId === 'string'));
    if (!valid) {
      this.logger.warn('malformed room change dropped');
      return;
    }
    if (node === this.nodeId) return;
    try {
      this.roomChangeHandler?.(change as RoomChange, node);
    } catch (error) {
      this.logger.error({ err: error, room: change.roomId }, 'room change handler failed');
    }
  }

  private resyncAll(): void {
    for (const subscription of this.allSubscriptions()) subscription.resync();
  }

  private async checkTails(): Promise<void> {
    const { command, sharded } = this.connections;
    if (command.status !== 'ready') return;

    // One server: one MGET per chunk of rooms. A cluster: one GET per room (keys of different
    // rooms sit on different slots).
    const channels = [...this.channels.values()];
    const chunkSize = sharded ? 1 : TAIL_CHECK_KEYS_PER_CALL;
    const chunks: ChannelState[][] = [];
    for (let i = 0; i < channels.length; i += chunkSize) {
      chunks.push(channels.slice(i, i + chunkSize));
    }
    await Promise.all(
      chunks.map(async (chunk) => {
        try {
          const counters = await command.mget(...chunk.map((channel) => channel.keys.seq));
          chunk.forEach((channel, i) => {
            const counter = Number(counters[i] ?? 0);
            for (const subscription of channel.subscriptions) subscription.checkTail(counter);
          });
        } catch (error) {
          this.logger.debug({ err: error }, 'tail check failed');
        }
      }),
    );
  }

  private async subscribeChannel(channel: string, deadline: number): Promise<void> {
    const { subscriber, sharded } = this.connections;
    for (;;) {
      try {
        await waitForReady(subscriber, Math.max(1, deadline - Date.now()));
        await (sharded ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel));
        return;
      } catch (error) {
        if (Date.now() >= deadline) throw error;
        await sleep(50);
      }
    }
  }

  private async detach(keys: RoomKeys, subscription: RedisRoomSubscription): Promise<void> {
    const channel = this.channels.get(keys.channel);
    if (!channel?.subscriptions.delete(subscription) || channel.subscriptions.size > 0) return;

    this.channels.delete(keys.channel);
    this.appended.delete(keys.tag);
    const { subscriber, sharded } = this.connections;
    try {
      await (sharded
        ? subscriber.sunsubscribe(keys.channel)
        : subscriber.unsubscribe(keys.channel));
    } catch (error) {
      this.logger.debug({ err: error }, 'unsubscribe failed');
    }
  }

  private *allSubscriptions(): Iterable<RedisRoomSubscription> {
    for (const channel of this.channels.values()) yield* channel.subscriptions;
  }

  /** The highest seq of the room this node has seen: delivered or appended. */
  private knownSeq(keys: RoomKeys): number {
    let seq = this.appended.get(keys.tag) ?? 0;
    for (const subscription of this.channels.get(keys.channel)?.subscriptions ?? []) {
      seq = Math.max(seq, subscription.deliveredSeq);
    }
    return seq;
  }

  private publishFrame(keys: RoomKeys, frame: Buffer): Promise<unknown> {
    const { command, sharded } = this.connections;
    return sharded ? command.spublish(keys.channel, frame) : command.publish(keys.channel, frame);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
