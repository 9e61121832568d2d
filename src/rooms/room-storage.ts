/**
 * The seam where a room's Storage (LiveObject / LiveMap / LiveList) plugs in. Until the Storage
 * tree lands, every room holds {@link EmptyRoomStorage}: clients calling `getStorage()` load an
 * empty root instead of waiting forever, and their ops are refused with REJECT_STORAGE_OP (the
 * gateway never acknowledges what it did not apply).
 */
import type { StorageOpsEntry } from './log-entry-codec.js';

/** A node of the v8 storage stream (`CompactNode` of `@liveblocks/core`). */
export type CompactStorageNode = readonly unknown[];

/** An item of the v7 storage state (`[id, SerializedCrdt]`). */
export type StorageItem = readonly [string, unknown];

/** What a room needs from its Storage. */
export interface RoomStorage {
  /** False while Storage ops are refused wholesale (no tree yet). */
  readonly acceptsOps: boolean;
  /** The tree as v8 compact nodes, in chunks of bounded size (STORAGE_CHUNK each). */
  compactChunks(): Iterable<readonly CompactStorageNode[]>;
  /** The tree as v7 items (STORAGE_STATE_V7). */
  items(): StorageItem[];
  /** Applies a Storage entry of the log, in log order. */
  applyEntry(entry: StorageOpsEntry): void;
  /** The tree's snapshot bytes (empty: nothing to keep). */
  encode(): Uint8Array;
}

/** The Storage of every room until the Storage tree lands: an empty root object. */
export class EmptyRoomStorage implements RoomStorage {
  readonly acceptsOps = false;

  *compactChunks(): Iterable<readonly CompactStorageNode[]> {
    yield [['root', {}]];
  }

  items(): StorageItem[] {
    return [['root', { type: 0, data: {} }]];
  }

  applyEntry(_entry: StorageOpsEntry): void {
    // Nothing writes Storage entries yet.
  }

  encode(): Uint8Array {
    return new Uint8Array(0);
  }
}
