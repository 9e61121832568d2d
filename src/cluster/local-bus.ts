import type { Logger } from '../log.js';
import type { RoomLogRepository } from '../store/room-log-repository.js';
import type { RoomRepository } from '../store/room-repository.js';
import type {
  Bus,
  EphemeralMessage,
  LogEntry,
  RoomBusHandler,
  RoomHistory,
  RoomKey,
  RoomSubscription,
} from './bus.js';

/** Options of {@link LocalBus}. */
export interface LocalBusOptions {
  /** This node's id. */
  nodeId: string;
  /** Where the log and snapshots live. */
  roomLog: RoomLogRepository;
  /** Where the actor counters live. */
  rooms: RoomRepository;
  logger: Logger;
}

/** Appends one caller made, waiting for the next flush. */
interface PendingAppend {
  readonly entries: readonly Uint8Array[];
  resolve(seqs: number[]): void;
  reject(error: unknown): void;
}

/** Everything the bus tracks for one room. */
interface RoomChannel {
  readonly roomId: string;
  pending: PendingAppend[];
  /** Store work of this room runs one piece at a time, in order, on this chain. */
  tail: Promise<void>;
  /** Pieces of work on the chain not finished yet. */
  running: number;
  readonly subscriptions: Set<LocalSubscription>;
}

/**
 * The bus of a single node: the room log is the store, the order is this process's own. Appends
 * made in one event-loop turn are written in one transaction per room; every subscriber (this
 * node's rooms) receives entries in seq order right after they are durable. There are no other
 * nodes, so ephemeral messages go nowhere.
 */
export class LocalBus implements Bus {
  readonly nodeId: string;
  private readonly channels = new Map<string, RoomChannel>();
  private flushScheduled = false;
  private closed = false;

  constructor(private readonly options: LocalBusOptions) {
    this.nodeId = options.nodeId;
  }

  append(room: RoomKey, entries: readonly Uint8Array[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new Error('bus closed'));
    if (entries.length === 0) return Promise.resolve([]);

    return new Promise((resolve, reject) => {
      this.channel(room).pending.push({ entries, resolve, reject });
      this.scheduleFlush();
    });
  }

  subscribe(room: RoomKey, afterSeq: number, handler: RoomBusHandler): Promise<RoomSubscription> {
    const channel = this.channel(room);
    return this.enqueue(channel, async () => {
      const subscription = new LocalSubscription(channel, afterSeq, handler);
      // Entries appended between the caller's history() and now: delivered before anything new.
      const missed = await this.options.roomLog.readAfter(room.roomId, afterSeq);
      subscription.deliver(missed.map((row) => ({ seq: row.seq, data: row.entry })));
      channel.subscriptions.add(subscription);
      return subscription;
    });
  }

  history(room: RoomKey): Promise<RoomHistory> {
    // On the room's chain, so that a snapshot cannot trim entries between the two reads.
    return this.enqueue(this.channel(room), async () => {
      const snapshot = await this.options.roomLog.getSnapshot(room.roomId);
      const rows = await this.options.roomLog.readAfter(room.roomId, snapshot?.seq ?? 0);
      return {
        snapshot: snapshot ? { seq: snapshot.seq, data: snapshot.snapshot } : null,
        entries: rows.map((row) => ({ seq: row.seq, data: row.entry })),
      };
    });
  }

  publish(_room: RoomKey, _message: EphemeralMessage): void {
    // One node: nobody else hosts the room.
  }

  nextActor(room: RoomKey): Promise<number> {
    return this.options.rooms.nextActor(room.roomId);
  }

  snapshot(room: RoomKey, seq: number, data: Uint8Array): Promise<boolean> {
    return this.enqueue(this.channel(room), async () => {
      await this.options.roomLog.putSnapshot(
        room.roomId,
        seq,
        toBuffer(data),
        new Date().toISOString(),
      );
      return true;
    });
  }

  forget(room: RoomKey): Promise<void> {
    const channel = this.channel(room);
    return this.enqueue(channel, async () => {
      await this.options.roomLog.clear(room.roomId);
      // The room's life starts over: seqs count from 1 again.
      for (const subscription of channel.subscriptions) subscription.reset();
    });
  }

  async moveRoom(): Promise<void> {
    // The store moved the log with the room; there is nothing else.
  }

  publishRoomChange(): void {
    // One node: no other node to tell.
  }

  onRoomChange(): void {
    // One node: no other node to hear from.
  }

  async ready(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;

    this.flush();
    await Promise.all([...this.channels.values()].map((channel) => channel.tail));
    for (const channel of this.channels.values()) channel.subscriptions.clear();
    this.channels.clear();
  }

  private channel(room: RoomKey): RoomChannel {
    let channel = this.channels.get(room.roomId);
    if (!channel) {
      channel = {
        roomId: room.roomId,
        pending: [],
        tail: Promise.resolve(),
        running: 0,
        subscriptions: new Set(),
      };
      this.channels.set(room.roomId, channel);
    }
    return channel;
  }

  private scheduleFlush() {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate runs after the current turn's I/O callbacks: every append of this turn joins.
    setImmediate(() => this.flush());
  }

  private flush() {
    this.flushScheduled = false;
    // Rooms with no store work in progress are written now, together, in one transaction
    // when the store can (SQLite); the others wait for their chain.
    const idle: { channel: RoomChannel; batch: PendingAppend[] }[] = [];
    for (const channel of this.channels.values()) {
      if (channel.pending.length === 0) continue;

      const batch = channel.pending;
      channel.pending = [];
      if (channel.running === 0) idle.push({ channel, batch });
      else this.enqueueWrite(channel, batch);
    }
    if (idle.length === 0) return;

    let seqs: number[][] | undefined;
    try {
      seqs = this.options.roomLog.appendNow(
        idle.map(({ channel, batch }) => ({ roomId: channel.roomId, entries: entriesOf(batch) })),
      );
    } catch {
      // Nothing was written; one room at a time below, so that one room's fault fails only it.
      seqs = undefined;
    }
    idle.forEach(({ channel, batch }, i) => {
      if (seqs) this.deliver(channel, batch, seqs[i]!);
      else this.enqueueWrite(channel, batch);
    });
  }

  private enqueueWrite(channel: RoomChannel, batch: PendingAppend[]) {
    void this.enqueue(channel, () => this.write(channel, batch)).catch(() => {
      // Callers were rejected one by one in write().
    });
  }

  private async write(channel: RoomChannel, batch: PendingAppend[]) {
    let seqs: number[];
    try {
      seqs = await this.options.roomLog.append(channel.roomId, entriesOf(batch));
    } catch (error) {
      this.options.logger.error(
        { err: error, room: channel.roomId, entries: batch.length },
        'room log append failed',
      );
      for (const append of batch) append.reject(error);
      return;
    }
    this.deliver(channel, batch, seqs);
  }

  /** Hands written entries to the subscribers, then resolves their appends. */
  private deliver(channel: RoomChannel, batch: PendingAppend[], seqs: readonly number[]) {
    const delivered: LogEntry[] = [];
    let offset = 0;
    for (const append of batch) {
      for (const data of append.entries) delivered.push({ seq: seqs[offset++]!, data });
    }
    // Subscribers first, so that a caller whose append resolved can read its own write.
    for (const subscription of channel.subscriptions) {
      try {
        subscription.deliver(delivered);
      } catch (error) {
        // A subscriber's fault must not cost the writers their acknowledgement: it is durable.
        this.options.logger.error({ err: error, room: channel.roomId }, 'room subscriber failed');
      }
    }

    offset = 0;
    for (const append of batch) {
      append.resolve(seqs.slice(offset, offset + append.entries.length));
      offset += append.entries.length;
    }
  }

  /** Runs `work` after every earlier piece of store work of the room. */
  private enqueue<T>(channel: RoomChannel, work: () => Promise<T>): Promise<T> {
    channel.running += 1;
    const result = channel.tail.then(work);
    const done = () => {
      channel.running -= 1;
    };
    channel.tail = result.then(done, done);
    return result;
  }
}

/** One subscriber of one room; delivers each seq once, in order. */
class LocalSubscription implements RoomSubscription {
  private lastSeq: number;
  private closed = false;

  constructor(
    private readonly channel: RoomChannel,
    afterSeq: number,
    private readonly handler: RoomBusHandler,
  ) {
    this.lastSeq = afterSeq;
  }

  deliver(entries: readonly LogEntry[]) {
    if (this.closed) return;

    const fresh = entries.filter((entry) => entry.seq > this.lastSeq);
    if (fresh.length === 0) return;
    this.lastSeq = fresh[fresh.length - 1]!.seq;
    this.handler.onEntries(fresh);
  }

  reset() {
    this.lastSeq = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.channel.subscriptions.delete(this);
  }
}

function entriesOf(batch: readonly PendingAppend[]): Buffer[] {
  return batch.flatMap((append) => append.entries.map(toBuffer));
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
