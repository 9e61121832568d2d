import { randomUUID } from 'node:crypto';

import type { Bus, LogEntry, RoomHistory, RoomKey } from '../cluster/bus.js';
import { WeftError, isWeftError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { RoomRecord } from '../store/room-repository.js';
import {
  NO_ORIGIN,
  decodeLogEntry,
  encodeLogEntry,
  type RoomLogEntry,
  type StorageOpsEntry,
} from './log-entry-codec.js';
import { RoomPresence } from './room-presence.js';
import { decodeRoomSnapshot, encodeRoomSnapshot } from './room-snapshot-codec.js';
import type { RoomStorage, StorageWriteOutcome } from './room-storage.js';
import { encodeStorageCommand } from './storage-command-codec.js';
import { TreeRoomStorage, initializeOps } from './tree-room-storage.js';
import { YjsDocuments } from './yjs-documents.js';

/** What a REST Storage write did, once applied on this node. */
export interface StorageWriteResult {
  readonly outcome: StorageWriteOutcome;
  /** Why it failed, for `patch-failed`. */
  readonly reason?: string;
}

/** Lifecycle of a room in memory. */
export type RoomState = 'loading' | 'ready' | 'unloading';

/** Options of {@link Room}. */
export interface RoomOptions {
  record: RoomRecord;
  bus: Bus;
  logger: Logger;
  /** How long a write may wait for the log before it fails with WRITE_STALLED, in ms. */
  writeStallTimeoutMs: number;
  /**
   * Builds the room's Storage from its snapshot bytes (empty when none).
   * @default a {@link TreeRoomStorage}
   */
  createStorage?: (snapshot: Uint8Array) => RoomStorage;
  /** Where append times and log entries are counted. */
  metrics?: Metrics;
}

/**
 * One room in memory on this node: its Yjs documents and Storage, changed only by log entries
 * in log order, and its {@link RoomPresence} (the connections of this node, the users of all).
 */
export class Room {
  readonly key: RoomKey;
  record: RoomRecord;
  readonly documents = new YjsDocuments();
  readonly presence: RoomPresence;
  storage: RoomStorage;
  /** Seq of the last log entry applied. */
  lastSeq = 0;
  /** Seq covered by the latest snapshot loaded or written. */
  snapshotSeq = 0;
  /** Called whenever the room has neither connections nor pins left. */
  onIdle: () => void = () => {};

  private currentState: RoomState = 'loading';
  private readonly waiters: { seq: number; resolve: () => void }[] = [];
  private pins = 0;
  private readonly log: Logger;
  /** REST Storage writes waiting for their entry, by request id; filled in when applied. */
  private readonly storageRequests = new Map<string, StorageWriteResult | undefined>();

  constructor(private readonly options: RoomOptions) {
    this.record = options.record;
    this.key = { organizationId: options.record.organizationId, roomId: options.record.id };
    this.log = options.logger.child({ org: this.key.organizationId, room: this.key.roomId });
    this.storage = this.createStorage(new Uint8Array(0));
    this.presence = new RoomPresence({
      nodeId: options.bus.nodeId,
      publish: (message) => options.bus.publish(this.key, message),
      onEmpty: () => {
        if (this.isIdle) this.onIdle();
      },
      nextActor: () => options.bus.nextActor(this.key),
      hold: () => {
        this.pin();
        return () => this.unpin();
      },
      logger: this.log,
    });
  }

  get state(): RoomState {
    return this.currentState;
  }

  /** The one place the lifecycle changes. */
  setState(next: RoomState): void {
    if (next === this.currentState) return;
    this.log.debug({ from: this.currentState, to: next }, 'room state changed');
    this.currentState = next;
  }

  /** No connections and no pins: the registry may unload the room. */
  get isIdle(): boolean {
    return this.presence.peerCount === 0 && this.pins === 0;
  }

  /** Keeps the room loaded while a join or a REST call uses it. Pair with {@link unpin}. */
  pin(): void {
    this.pins += 1;
  }

  unpin(): void {
    this.pins -= 1;
    if (this.isIdle) this.onIdle();
  }

  /** Builds the state from the latest snapshot and the entries after it. */
  load(history: RoomHistory): void {
    if (history.snapshot) {
      const snapshot = decodeRoomSnapshot(history.snapshot.data);
      this.documents.load(snapshot.documents);
      this.storage = this.createStorage(snapshot.storage);
      this.lastSeq = this.snapshotSeq = history.snapshot.seq;
    }
    this.applyEntries(history.entries);
  }

  /** The state as snapshot bytes, covering the log up to {@link lastSeq}. */
  encodeSnapshot(): Uint8Array {
    return encodeRoomSnapshot({
      documents: this.documents.encodeAll(),
      storage: this.storage.encode(),
    });
  }

  /** Applies log entries in order (each once) and tells the connections. */
  applyEntries(entries: readonly LogEntry[]): void {
    for (const entry of entries) {
      if (entry.seq <= this.lastSeq) continue;
      this.lastSeq = entry.seq;

      let decoded: RoomLogEntry;
      try {
        decoded = decodeLogEntry(entry.data);
      } catch (error) {
        this.log.error({ err: error, seq: entry.seq }, 'unreadable log entry skipped');
        continue;
      }
      this.applyEntry(decoded, entry.seq);
    }
    while (this.waiters.length > 0 && this.waiters[0]!.seq <= this.lastSeq) {
      this.waiters.shift()!.resolve();
    }
  }

  /** Resolves once the entry of `seq` has been applied here. */
  waitApplied(seq: number): Promise<void> {
    if (seq <= this.lastSeq) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ seq, resolve });
      this.waiters.sort((a, b) => a.seq - b.seq);
    });
  }

  /**
   * Appends a Yjs update to the log. It is applied and sent to the connections when the log
   * delivers it, never before. Rejects with WRITE_STALLED when the log fails or stays silent
   * past the write-stall timeout.
   */
  async submitYjsUpdate(
    origin: number,
    guid: string | null,
    update: Uint8Array,
    v2: boolean,
  ): Promise<number> {
    const entry = encodeLogEntry({ kind: 'yjs-update', origin, guid, v2, update });
    const [seq] = await this.appendDurably([entry]);
    this.options.metrics?.logEntries.inc({ kind: 'yjs' });
    return seq!;
  }

  /**
   * Appends a connection's Storage ops (one UPDATE_STORAGE) to the log. They are applied, and
   * answered to the writer and fanned out to the others, when the log delivers them. Rejects
   * with WRITE_STALLED like {@link submitYjsUpdate}.
   */
  async submitStorageOps(origin: number, ops: readonly unknown[]): Promise<number> {
    const payload = encodeStorageCommand({ kind: 'ops', ops });
    const [seq] = await this.appendDurably([
      encodeLogEntry({ kind: 'storage-ops', origin, payload }),
    ]);
    this.options.metrics?.logEntries.inc({ kind: 'storage' });
    return seq!;
  }

  /**
   * Initializes an empty Storage from plain LSON (`POST …/storage`) through the log; connected
   * clients receive the new nodes as ops. Resolves with `not-empty` (nothing written) when the
   * Storage had keys when the entry was applied. Throws UNPROCESSABLE_ENTITY on invalid LSON.
   */
  async initializeStorage(plainLson: unknown): Promise<{
    outcome: StorageWriteOutcome;
    plainLson: unknown;
  }> {
    if (!this.storage.isEmpty()) return { outcome: 'not-empty', plainLson: undefined };

    // Node ids of the server embed an actor of the room's counter, as a connection's do.
    const actor = await this.options.bus.nextActor(this.key);
    const built = initializeOps(plainLson, actor);
    const { outcome } = await this.submitStorageWrite((request) => ({
      kind: 'initialize',
      ops: built.ops,
      request,
    }));
    return { outcome, plainLson: built.plainLson };
  }

  /**
   * Applies a JSON Patch (`PATCH …/storage/json-patch`) through the log, against the Storage as
   * it is when the entry is applied: all of it, or nothing with `patch-failed` and the reason.
   */
  async patchStorage(patch: unknown): Promise<StorageWriteResult> {
    // New nodes are named after an actor of the room's counter, as a connection's are.
    const actor = await this.options.bus.nextActor(this.key);
    return this.submitStorageWrite((request) => ({ kind: 'json-patch', patch, actor, request }));
  }

  /** Empties the Storage (`DELETE …/storage`) through the log; clients receive the deletions. */
  async deleteStorage(): Promise<void> {
    await this.submitStorageWrite((request) => ({ kind: 'delete', request }));
  }

  /** A fresh actor of the room's counter, never given out before, for a REST writer. */
  allocateActor(): Promise<number> {
    return this.options.bus.nextActor(this.key);
  }

  /** The room's accesses changed: every connection re-checks its permissions. */
  reauthorize(record: RoomRecord): void {
    this.record = record;
    this.presence.reauthorize(record);
  }

  /** Frees the documents and stops the timed users' timers. */
  destroy(): void {
    this.presence.timed.clear();
    this.documents.destroy();
  }

  private createStorage(snapshot: Uint8Array): RoomStorage {
    const create =
      this.options.createStorage ??
      ((bytes: Uint8Array) => TreeRoomStorage.fromSnapshot(bytes, this.log));
    return create(snapshot);
  }

  /** Appends a REST Storage write and resolves with its outcome once applied here. */
  private async submitStorageWrite(
    command: (request: string) => Parameters<typeof encodeStorageCommand>[0],
  ): Promise<StorageWriteResult> {
    const request = randomUUID();
    const payload = encodeStorageCommand(command(request));
    // Registered before the append: the log may deliver the entry before append resolves.
    this.storageRequests.set(request, undefined);
    try {
      const [seq] = await this.appendDurably([
        encodeLogEntry({ kind: 'storage-ops', origin: NO_ORIGIN, payload }),
      ]);
      this.options.metrics?.logEntries.inc({ kind: 'storage' });
      await this.waitApplied(seq!);
      return this.storageRequests.get(request) ?? { outcome: 'applied' };
    } finally {
      this.storageRequests.delete(request);
    }
  }

  private applyEntry(entry: RoomLogEntry, seq: number) {
    if (entry.kind === 'storage-ops') {
      this.applyStorageEntry(entry);
      return;
    }
    try {
      this.documents.apply(entry.guid, entry.update, entry.v2);
    } catch (error) {
      this.log.error({ err: error, seq }, 'unappliable Yjs update skipped');
      return;
    }
    this.presence.fanOut({
      type: 'yjs-update',
      origin: entry.origin,
      guid: entry.guid,
      update: entry.update,
      v2: entry.v2,
    });
  }

  private applyStorageEntry(entry: StorageOpsEntry) {
    const update = this.storage.applyEntry(entry);
    if (update.request && this.storageRequests.has(update.request.id)) {
      const { outcome, reason } = update.request;
      this.storageRequests.set(update.request.id, { outcome, reason });
    }
    if (update.toSender.length === 0 && update.toOthers.length === 0 && !update.rejected) return;

    this.presence.fanOut({
      type: 'storage-update',
      origin: entry.origin,
      toSender: update.toSender,
      toOthers: update.toOthers,
      rejected: update.rejected,
    });
  }

  private async appendDurably(entries: Uint8Array[]): Promise<number[]> {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new WeftError('WRITE_STALLED')),
        this.options.writeStallTimeoutMs,
      );
    });
    const stopTimer = this.options.metrics?.appendSeconds.startTimer();
    try {
      const seqs = await Promise.race([this.options.bus.append(this.key, entries), stalled]);
      stopTimer?.();
      return seqs;
    } catch (error) {
      if (isWeftError(error)) throw error;
      throw new WeftError('WRITE_STALLED', undefined, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}
