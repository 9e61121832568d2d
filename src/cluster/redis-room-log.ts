import { randomBytes } from 'node:crypto';

import type { Logger } from '../log.js';
import type { RoomLogRepository } from '../store/room-log-repository.js';
import type { RoomRepository } from '../store/room-repository.js';
import type { LogEntry, RoomHistory, RoomKey } from './bus.js';
import { waitForReady, type RedisClient } from './redis-connection.js';
import { roomKeys, type RoomKeys } from './redis-keys.js';
import type { LogPage } from './redis-room-subscription.js';
import { runScript, type ScriptName } from './redis-scripts.js';

/** The parts of the store the Redis bus uses: snapshots and the rooms' actor counters. */
export interface RedisBusStore {
  readonly rooms: Pick<RoomRepository, 'actorCounter' | 'raiseActorCounter'>;
  readonly roomLog: Pick<RoomLogRepository, 'getSnapshot' | 'putSnapshot' | 'clear'>;
}

/** Options of {@link RedisRoomLog}. */
export interface RedisRoomLogOptions {
  readonly client: RedisClient;
  readonly store: RedisBusStore;
  /** Written into snapshot lease tokens, so that operators see who holds a lease. */
  readonly nodeId: string;
  readonly logger: Logger;
  /** How long a call waits for a Redis connection before it fails. Milliseconds. */
  readonly timeoutMs: number;
  /** Lifetime of the snapshot lease. Milliseconds. */
  readonly snapshotLeaseMs: number;
  /** Entries kept in the stream behind a snapshot. */
  readonly trimRetainEntries: number;
}

/** Entries a log read returns at most per round trip. */
const READ_PAGE_ENTRIES = 1_000;
/** Move markers (see {@link RoomKeys.move}). */
const MOVING_IN = 'in';
const RENAMED = 'renamed';
/**
 * Move markers expire after this long: a node that dies while moving a log does not block the
 * new id for ever, and stragglers still writing under the old id are refused meanwhile.
 */
const MOVE_MARKER_TTL_MS = 60_000;
/** A load that finds a log being moved in looks again after this long. Milliseconds. */
const MOVE_POLL_MS = 20;
/** A room's history is read again this many times at most when snapshots race with it. */
const HISTORY_ATTEMPTS = 3;

/**
 * A room's durable state in a cluster, outside of the live stream of entries: reading the log
 * (pages, history), snapshots under a lease with the trim behind them, actor ids and forgetting
 * a room. The counters only go forward: reads raise the seq counter to what the reader has
 * seen, and actor ids start above the store's counter when Redis lost its own.
 */
export class RedisRoomLog {
  /** Rooms (by id) whose actor counter this node raised to the store's once. */
  private readonly actorRaised = new Set<string>();

  constructor(private readonly options: RedisRoomLogOptions) {}

  /** A page of entries after `afterSeq`, read with the counter after raising it to `floor`. */
  async readPage(keys: RoomKeys, afterSeq: number, floor: number): Promise<LogPage> {
    const reply = (await this.run(
      'weftRead',
      [keys.seq, keys.log],
      [afterSeq, floor, READ_PAGE_ENTRIES],
      true,
    )) as [number, [Buffer, Buffer[]][]];
    const [counter, rows] = reply;
    const entries: LogEntry[] = rows.map(([id, fields]) => ({
      seq: Number(id.toString('latin1').split('-')[0]),
      data: new Uint8Array(fieldValue(fields, 'd')),
    }));
    return { counter: Number(counter), entries, more: rows.length === READ_PAGE_ENTRIES };
  }

  /** The store's snapshot and the stream's entries after it. */
  async history(room: RoomKey): Promise<RoomHistory> {
    const keys = roomKeys(room);
    await this.settleMove(keys);
    for (let attempt = 1; ; attempt++) {
      const stored = await this.options.store.roomLog.getSnapshot(room.roomId);
      const snapshotSeq = stored?.seq ?? 0;
      const entries = await this.readAll(keys, snapshotSeq);
      const history: RoomHistory = {
        snapshot: stored ? { seq: stored.seq, data: new Uint8Array(stored.snapshot) } : null,
        entries,
      };
      const first = entries[0]?.seq;
      if (first === undefined || first === snapshotSeq + 1 || attempt === HISTORY_ATTEMPTS) {
        return history;
      }

      // Another node may have written a newer snapshot and trimmed between the two reads.
      const newer = await this.options.store.roomLog.getSnapshot(room.roomId);
      if ((newer?.seq ?? 0) === snapshotSeq) {
        this.options.logger.error(
          {
            org: room.organizationId,
            room: room.roomId,
            fromSeq: snapshotSeq + 1,
            toSeq: first - 1,
          },
          'room log entries missing, skipped',
        );
        return history;
      }
    }
  }

  /**
   * Writes a snapshot to the store under the room's lease, then trims the stream behind it
   * (keeping `trimRetainEntries`). Returns false when another node holds the lease.
   */
  async snapshot(room: RoomKey, seq: number, data: Uint8Array): Promise<boolean> {
    const keys = roomKeys(room);
    const token = `${this.options.nodeId}:${randomBytes(6).toString('hex')}`;
    const leased = await this.whenReady(() =>
      this.options.client.set(keys.lease, token, 'PX', this.options.snapshotLeaseMs, 'NX'),
    );
    if (leased !== 'OK') return false;

    try {
      await this.options.store.roomLog.putSnapshot(
        room.roomId,
        seq,
        Buffer.from(data.buffer, data.byteOffset, data.byteLength),
        new Date().toISOString(),
      );
    } catch (error) {
      await this.run('weftRelease', [keys.lease], [token]).catch(() => undefined);
      throw error;
    }
    const minSeq = Math.max(1, seq + 1 - this.options.trimRetainEntries);
    await this.run('weftTrim', [keys.seq, keys.log, keys.lease], [seq, minSeq, token]);
    return true;
  }

  /** The room's next actor id; the store learns it before it is returned. */
  async nextActor(room: RoomKey): Promise<number> {
    const keys = roomKeys(room);
    const { rooms } = this.options.store;
    // First use on this node: raise the counter to the store's, whatever Redis holds.
    const floor = this.actorRaised.has(room.roomId) ? '' : await rooms.actorCounter(room.roomId);

    let actor = Number(await this.run('weftActor', [keys.actors], [floor]));
    if (actor === 0) {
      // Redis lost the counter: start again above every id the store has seen.
      const stored = await rooms.actorCounter(room.roomId);
      actor = Number(await this.run('weftActor', [keys.actors], [stored]));
    }
    this.actorRaised.add(room.roomId);
    // One store write per join, so that a Redis that lost the counter starts above this id.
    await rooms.raiseActorCounter(room.roomId, actor);
    return actor;
  }

  /**
   * Moves a renamed room's log to its new id, keeping seqs (the store moved the snapshot and
   * the actor counter with the room). The new id's loads and appends wait meanwhile; appends
   * under the old id are refused from the start, so nothing is added behind the copy.
   */
  async moveRoom(from: RoomKey, to: RoomKey): Promise<void> {
    const source = roomKeys(from);
    const target = roomKeys(to);
    const { client } = this.options;

    await this.whenReady(() => client.set(target.move, MOVING_IN, 'PX', MOVE_MARKER_TTL_MS));
    try {
      await this.whenReady(() => client.set(source.move, RENAMED, 'PX', MOVE_MARKER_TTL_MS));
      let after = 0;
      for (;;) {
        const page = await this.readPage(source, after, 0);
        const pairs = page.entries.flatMap((entry) => [entry.seq, Buffer.from(entry.data)]);
        const floor = page.more ? 0 : page.counter;
        await this.whenReady(() =>
          runScript(client, 'weftMoveIn', [target.seq, target.log], [floor, ...pairs]),
        );
        if (!page.more) break;
        after = page.entries.at(-1)!.seq;
      }
      await this.whenReady(() =>
        client.del(source.log, source.seq, source.actors, source.lease, source.writers),
      );
      this.actorRaised.delete(from.roomId);
    } finally {
      await this.whenReady(() => client.del(target.move)).catch((error: unknown) => {
        // The marker expires on its own.
        this.options.logger.warn({ err: error, room: to.roomId }, 'room move marker not cleared');
      });
    }
  }

  /** Deletes the room's keys and its stored log and snapshot. */
  async forget(room: RoomKey): Promise<void> {
    const keys = roomKeys(room);
    await this.whenReady(() =>
      this.options.client.del(keys.log, keys.seq, keys.actors, keys.lease, keys.writers),
    );
    await this.options.store.roomLog.clear(room.roomId);
    this.actorRaised.delete(room.roomId);
  }

  /**
   * Before a load: waits while a renamed room's log is moved in (until the marker expires at
   * worst), and clears the marker of a room renamed away: the room loaded now was created
   * since, under the old id.
   */
  private async settleMove(keys: RoomKeys): Promise<void> {
    const { client } = this.options;
    for (;;) {
      const marker = await this.whenReady(() => client.get(keys.move));
      if (marker === null) return;
      if (marker === RENAMED) {
        await this.whenReady(() => client.del(keys.move));
        return;
      }
      await sleep(MOVE_POLL_MS);
    }
  }

  private async readAll(keys: RoomKeys, afterSeq: number): Promise<LogEntry[]> {
    const entries: LogEntry[] = [];
    let after = afterSeq;
    for (;;) {
      // The floor raises the counter to the snapshot's seq: after Redis lost the stream, new
      // seqs continue above what the store already covers.
      const page = await this.readPage(keys, after, afterSeq);
      entries.push(...page.entries);
      if (!page.more) return entries;
      after = page.entries.at(-1)!.seq;
    }
  }

  private run(
    name: ScriptName,
    keys: readonly string[],
    args: readonly (string | number)[],
    binary = false,
  ): Promise<unknown> {
    return this.whenReady(() => runScript(this.options.client, name, keys, args, binary));
  }

  private async whenReady<T>(call: () => Promise<T>): Promise<T> {
    await waitForReady(this.options.client, this.options.timeoutMs);
    return call();
  }
}

function fieldValue(fields: Buffer[], name: string): Buffer {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i]!.toString('latin1') === name) return fields[i + 1]!;
  }
  return Buffer.alloc(0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
