/**
 * The seam where a room's Storage (LiveObject / LiveMap / LiveList) plugs in: what a room and
 * its connections need of it. Every room holds a `TreeRoomStorage` (tree-room-storage.ts);
 * tests may pass another through `RoomRegistryOptions.createStorage`.
 */
import type { StorageOpsEntry } from './log-entry-codec.js';

/** A node of the v8 storage stream (`CompactNode` of `@liveblocks/core`). */
export type CompactStorageNode = readonly unknown[];

/** An item of the v7 storage state (`[id, SerializedCrdt]`). */
export type StorageItem = readonly [string, unknown];

/** Ops refused, for one `REJECT_STORAGE_OP` (299) to the writer. */
export interface StorageRejection {
  readonly opIds: readonly string[];
  readonly reason: string;
}

/** The outcome of a REST write, for the call waiting on the node that wrote it. */
export type StorageWriteOutcome = 'applied' | 'not-empty' | 'patch-failed';

/** What applying one Storage entry of the log changed, for the connections to send. */
export interface StorageUpdate {
  /** For the writing connection (UPDATE_STORAGE): acknowledgements and fixes, in order. */
  readonly toSender: readonly unknown[];
  /** For every other connection that loaded Storage (UPDATE_STORAGE): ops without `opId`. */
  readonly toOthers: readonly unknown[];
  /** Refused ops of the writer, sent after `toSender`; null when none. */
  readonly rejected: StorageRejection | null;
  /** The REST call this entry answers, with its outcome (and why, when it failed). */
  readonly request?: {
    readonly id: string;
    readonly outcome: StorageWriteOutcome;
    readonly reason?: string;
  };
}

/** What a room needs from its Storage. */
export interface RoomStorage {
  /** The tree as v8 compact nodes, root first and parents before children; a snapshot. */
  compactNodes(): Iterable<CompactStorageNode>;
  /** The tree as v7 items (STORAGE_STATE_V7). */
  items(): StorageItem[];
  /** Applies a Storage entry of the log, in log order. Never throws. */
  applyEntry(entry: StorageOpsEntry): StorageUpdate;
  /** The tree's snapshot bytes (empty: nothing to keep). */
  encode(): Uint8Array;
  /** Whether the root has no keys. */
  isEmpty(): boolean;
  /** `GET …/storage?format=plain-lson`. */
  toPlainLson(): unknown;
  /** `GET …/storage?format=json`, as a client's `root.toJSON()`. */
  toJson(): unknown;
}
