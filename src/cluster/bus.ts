/**
 * The seam between rooms and the rest of the cluster. Every durable write of a room goes
 * through {@link Bus.append}, which gives it a place in the room's one total order; every node
 * hosting the room applies the entries in that order (the writer's node included). Ephemeral
 * messages (presence, broadcast, joins and leaves) are fanned out to the other nodes only.
 *
 * `LocalBus` (one node) keeps the log in the store; `RedisBus` (a cluster) keeps it in a Redis
 * stream per room. The same tests run against both.
 */

/** Names a room everywhere in the cluster. Room ids are unique across the project; the
 *  organization rides along so that keys, channels and metrics carry it. */
export interface RoomKey {
  readonly organizationId: string;
  readonly roomId: string;
}

/** A durable entry as delivered: its place in the room's order and its opaque bytes. */
export interface LogEntry {
  /** 1, 2, 3, … without gaps within a room's life (a snapshot may cover a prefix). */
  readonly seq: number;
  readonly data: Uint8Array;
}

/**
 * An ephemeral, JSON-serialisable message for the other nodes hosting a room: presence,
 * broadcast events, joins and leaves, requests to announce. Rooms define the variants; the
 * bus carries them without looking inside.
 */
export type EphemeralMessage = { readonly type: string } & Record<string, unknown>;

/** What a room subscription receives. Calls for one room never overlap and come in order. */
export interface RoomBusHandler {
  /** Durable entries, in seq order, each exactly once per subscription. */
  onEntries(entries: readonly LogEntry[]): void;
  /** An ephemeral message from another node (never this node's own). */
  onEphemeral(message: EphemeralMessage, fromNode: string): void;
  /** Nodes that stopped heartbeating: drop the state they owned (their users' presence). */
  onNodesDown?(nodeIds: readonly string[]): void;
}

/** A live subscription to one room. */
export interface RoomSubscription {
  /** Stops delivery. Idempotent. */
  close(): Promise<void>;
}

/** The state a room is loaded from: the snapshot and every entry after it. */
export interface RoomHistory {
  /** The snapshot bytes and the seq they cover, or null when the room has none. */
  readonly snapshot: { readonly seq: number; readonly data: Uint8Array } | null;
  /** Entries after the snapshot, in order. */
  readonly entries: readonly LogEntry[];
}

/**
 * A change made to a room through the REST API that every node holding the room must act on:
 * close its sockets (deleted, renamed) or re-check their permissions (updated).
 */
export type RoomChange =
  | { readonly type: 'deleted'; readonly roomId: string }
  | { readonly type: 'renamed'; readonly roomId: string; readonly newRoomId: string }
  | { readonly type: 'updated'; readonly roomId: string };

/** The cluster seam. */
export interface Bus {
  /** This node's id (log field `node`, metrics label, ephemeral `fromNode`). */
  readonly nodeId: string;

  /**
   * Appends durable entries to the room's log and resolves with their seqs once they are
   * durable (in the store, or in Redis). Appends in one event-loop turn are batched. Rejects
   * when the log cannot be reached; the caller neither acknowledges nor rejects the write then.
   */
  append(room: RoomKey, entries: readonly Uint8Array[]): Promise<number[]>;

  /**
   * Starts delivering the room's entries after `afterSeq` (every one, in order, gaps repaired
   * from the log) and ephemeral messages of other nodes.
   */
  subscribe(room: RoomKey, afterSeq: number, handler: RoomBusHandler): Promise<RoomSubscription>;

  /** Reads the latest snapshot and the entries after it, to load a room. */
  history(room: RoomKey): Promise<RoomHistory>;

  /** Sends an ephemeral message to the other nodes hosting the room. Best effort, at most once. */
  publish(room: RoomKey, message: EphemeralMessage): void;

  /** The next actor id of the room: 1, 2, …, never reused within the room's life. */
  nextActor(room: RoomKey): Promise<number>;

  /**
   * Stores a snapshot covering the log up to `seq` and trims the log behind it. Returns false
   * when another node holds the room's snapshot lease (then nothing was written).
   */
  snapshot(room: RoomKey, seq: number, data: Uint8Array): Promise<boolean>;

  /** Forgets a room's log and snapshot (room or its storage deleted, room renamed away). */
  forget(room: RoomKey): Promise<void>;

  /**
   * Moves the log of a renamed room to its new id, after the store moved its rows and
   * snapshot. Appends under the old id fail from the start of the move; appends under the new
   * id wait until it is done.
   */
  moveRoom(from: RoomKey, to: RoomKey): Promise<void>;

  /** Tells the other nodes about a REST change of a room. Best effort, at most once. */
  publishRoomChange(change: RoomChange): void;

  /** Sets the handler of the other nodes' room changes (one handler; a later call replaces it). */
  onRoomChange(handler: (change: RoomChange, fromNode: string) => void): void;

  /** True when the bus's backing services answer; used by /readyz. */
  ready(): Promise<boolean>;

  /** Stops heartbeats and subscriptions and releases connections. */
  close(): Promise<void>;
}
