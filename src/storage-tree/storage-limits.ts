/**
 * Bounds on what a client may write into a Storage tree. Each one protects the server's memory
 * or stack, or the clients that load the tree later, from a buggy or hostile writer.
 */

/** Limits a {@link StorageTree} enforces on every op. */
export interface StorageLimits {
  /**
   * Longest node id or op id accepted, in UTF-16 units. Real ids are `actor:clock`.
   * @default 128
   */
  readonly maxIdLength: number;
  /**
   * Longest LiveObject key, LiveMap key or LiveList position, in UTF-16 units.
   * @default 4096
   */
  readonly maxKeyLength: number;
  /**
   * Largest plain data of one LiveObject or one register, in bytes of UTF-8 JSON. The client
   * documents 128 KiB as the most the service accepts (`LiveObject.detectLargeObjects`).
   * @default 131072
   */
  readonly maxDataBytes: number;
  /**
   * Deepest nesting of live nodes below the root. Keeps recursive readers (ours and every
   * client's deserializer) off the end of the stack.
   * @default 512
   */
  readonly maxTreeDepth: number;
  /**
   * Deepest nesting inside one plain JSON value.
   * @default 512
   */
  readonly maxJsonDepth: number;
  /**
   * Most nodes one tree may hold.
   * @default 1000000
   */
  readonly maxNodes: number;
  /**
   * Most actors whose create ops are remembered, to recognise a create a client resends after
   * it was applied. An actor forgotten (least recently used first) can have a node it created
   * and that was deleted since brought back by a late resend.
   * @default 10000
   */
  readonly maxTrackedActors: number;
}

/** The defaults of {@link StorageLimits}. */
export const DEFAULT_STORAGE_LIMITS: StorageLimits = Object.freeze({
  maxIdLength: 128,
  maxKeyLength: 4096,
  maxDataBytes: 128 * 1024,
  maxTreeDepth: 512,
  maxJsonDepth: 512,
  maxNodes: 1_000_000,
  maxTrackedActors: 10_000,
});
