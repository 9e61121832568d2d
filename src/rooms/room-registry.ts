import type { Bus, RoomSubscription } from '../cluster/bus.js';
import type { Limits } from '../config.js';
import { WeftError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { RoomRecord } from '../store/room-repository.js';
import { Room } from './room.js';
import type { RoomStorage } from './room-storage.js';

/** Options of {@link RoomRegistry}. */
export interface RoomRegistryOptions {
  bus: Bus;
  logger: Logger;
  limits: Pick<
    Limits,
    'maxRoomsLoaded' | 'roomIdleUnloadMs' | 'writeStallTimeoutMs' | 'snapshotEveryEntries'
  >;
  /** Builds a room's Storage from its snapshot bytes. @default an empty Storage */
  createStorage?: (snapshot: Uint8Array) => RoomStorage;
  /** Where rooms loaded and log appends are counted; none in unit tests. */
  metrics?: Metrics;
}

/** A room the registry holds, from the start of its load to the end of its unload. */
interface Slot {
  readonly room: Room;
  readonly ready: Promise<Room>;
  subscription?: RoomSubscription;
  idleTimer?: NodeJS.Timeout;
  snapshotting?: Promise<void>;
  /** Seq of the last snapshot attempt, written or refused (another node holds the lease). */
  snapshotTriedSeq: number;
  unloading?: Promise<void>;
}

/**
 * The rooms loaded on this node. A room loads from its snapshot and the log after it, follows
 * the log through a bus subscription, writes a snapshot every `snapshotEveryEntries` entries and
 * when it unloads, and unloads `roomIdleUnloadMs` after its last connection left.
 */
export class RoomRegistry {
  private readonly slots = new Map<string, Slot>();
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly options: RoomRegistryOptions) {
    this.log = options.logger.child({ component: 'rooms' });
  }

  /** Rooms loaded or loading. */
  get size(): number {
    return this.slots.size;
  }

  /** The ready room of this id, if loaded here. */
  get(roomId: string): Room | undefined {
    const room = this.slots.get(roomId)?.room;
    return room?.state === 'ready' ? room : undefined;
  }

  /**
   * Loads the room (or finds it loaded) and pins it so that it stays loaded; the caller must
   * `unpin()` it. Throws OVERLOADED when `maxRoomsLoaded` rooms are busy.
   */
  async acquire(record: RoomRecord): Promise<Room> {
    for (;;) {
      if (this.closed) throw new WeftError('SHUTTING_DOWN');

      const slot = this.slots.get(record.id);
      if (slot?.unloading) {
        await slot.unloading;
        continue;
      }
      if (slot) {
        const room = await slot.ready;
        // An eviction may have started while this caller waited.
        if (room.state !== 'ready' || this.slots.get(record.id) !== slot) continue;
        clearTimeout(slot.idleTimer);
        room.pin();
        return room;
      }
      if (this.slots.size >= this.options.limits.maxRoomsLoaded) {
        await this.evictOne();
        continue;
      }
      this.startLoad(record);
    }
  }

  /** Closes the room's connections with `error` and drops it without a snapshot. */
  async drop(roomId: string, error: WeftError, options: { forget: boolean }): Promise<void> {
    const slot = this.slots.get(roomId);
    if (!slot) return;

    const room = await slot.ready.catch(() => undefined);
    room?.presence.closeAll(error);
    await this.unload(roomId, { snapshot: false });
    if (room && options.forget) await this.options.bus.forget(room.key);
  }

  /** Unloads every room, with a snapshot each, and refuses further loads. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      [...this.slots.keys()].map((roomId) => this.unload(roomId, { snapshot: true })),
    );
  }

  private startLoad(record: RoomRecord) {
    const room = new Room({
      record,
      bus: this.options.bus,
      logger: this.options.logger,
      writeStallTimeoutMs: this.options.limits.writeStallTimeoutMs,
      createStorage: this.options.createStorage,
      metrics: this.options.metrics,
    });
    const slot: Slot = { room, ready: this.load(room), snapshotTriedSeq: 0 };
    this.slots.set(record.id, slot);

    room.onIdle = () => this.scheduleIdleUnload(slot);
    slot.ready.then(
      () => {
        if (room.isIdle) this.scheduleIdleUnload(slot);
      },
      (error: unknown) => {
        this.log.error(
          { err: error, org: record.organizationId, room: record.id },
          'room load failed',
        );
        if (this.slots.get(record.id) === slot) this.slots.delete(record.id);
      },
    );
  }

  private async load(room: Room): Promise<Room> {
    const bus = this.options.bus;
    const started = performance.now();

    const history = await bus.history(room.key);
    room.load(history);
    const slot = () => this.slots.get(room.key.roomId);
    const subscription = await bus.subscribe(room.key, room.lastSeq, {
      onEntries: (entries) => {
        room.applyEntries(entries);
        const current = slot();
        if (current?.room === room) this.maybeSnapshot(current);
      },
      onEphemeral: (message, fromNode) => room.presence.receiveEphemeral(message, fromNode),
      onNodesDown: (nodeIds) => room.presence.dropNodes(nodeIds),
    });
    const current = slot();
    if (current?.room === room) current.subscription = subscription;

    // An unload may have begun meanwhile (eviction, delete); it wins.
    if (room.state === 'loading') room.setState('ready');
    this.options.metrics?.roomsLoaded.inc({ org: room.key.organizationId });
    room.presence.announce();
    this.log.debug(
      {
        org: room.key.organizationId,
        room: room.key.roomId,
        seq: room.lastSeq,
        ms: Math.round(performance.now() - started),
      },
      'room loaded',
    );
    return room;
  }

  private scheduleIdleUnload(slot: Slot) {
    if (slot.unloading || this.closed) return;

    clearTimeout(slot.idleTimer);
    slot.idleTimer = setTimeout(() => {
      if (slot.room.isIdle && slot.room.state === 'ready') {
        void this.unload(slot.room.key.roomId, { snapshot: true });
      }
    }, this.options.limits.roomIdleUnloadMs);
    slot.idleTimer.unref();
  }

  private maybeSnapshot(slot: Slot) {
    const { room } = slot;
    // Counted from the last attempt too: a refused one (lease elsewhere) waits a full period.
    const since = room.lastSeq - Math.max(room.snapshotSeq, slot.snapshotTriedSeq);
    if (since < this.options.limits.snapshotEveryEntries || slot.snapshotting || slot.unloading) {
      return;
    }

    slot.snapshotTriedSeq = room.lastSeq;
    slot.snapshotting = this.writeSnapshot(room).finally(() => {
      slot.snapshotting = undefined;
    });
  }

  private async writeSnapshot(room: Room): Promise<void> {
    const seq = room.lastSeq;
    if (seq <= room.snapshotSeq) return;
    try {
      const written = await this.options.bus.snapshot(room.key, seq, room.encodeSnapshot());
      if (written) room.snapshotSeq = Math.max(room.snapshotSeq, seq);
      this.log.debug(
        { org: room.key.organizationId, room: room.key.roomId, seq, written },
        'room snapshot',
      );
    } catch (error) {
      this.log.error(
        { err: error, org: room.key.organizationId, room: room.key.roomId, seq },
        'room snapshot failed',
      );
    }
  }

  private unload(roomId: string, options: { snapshot: boolean }): Promise<void> {
    const slot = this.slots.get(roomId);
    if (!slot) return Promise.resolve();
    if (slot.unloading) return slot.unloading;

    const { room } = slot;
    clearTimeout(slot.idleTimer);
    room.setState('unloading');
    slot.unloading = (async () => {
      const loaded = await slot.ready.then(
        () => true,
        () => false,
      );
      await slot.snapshotting;
      await slot.subscription?.close();
      if (options.snapshot) await this.writeSnapshot(room);
      room.destroy();
      if (loaded) this.options.metrics?.roomsLoaded.dec({ org: room.key.organizationId });
    })().finally(() => {
      if (this.slots.get(roomId) === slot) this.slots.delete(roomId);
      this.log.debug({ org: room.key.organizationId, room: roomId }, 'room unloaded');
    });
    return slot.unloading;
  }

  /** Unloads one idle room to make space; OVERLOADED when every room is busy. */
  private async evictOne() {
    for (const slot of this.slots.values()) {
      if (slot.unloading) {
        await slot.unloading;
        return;
      }
    }
    for (const slot of this.slots.values()) {
      if (slot.room.state === 'ready' && slot.room.isIdle) {
        await this.unload(slot.room.key.roomId, { snapshot: true });
        return;
      }
    }
    throw new WeftError('OVERLOADED');
  }
}
