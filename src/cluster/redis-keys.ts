import type { RoomKey } from './bus.js';

/** First segment of every key and channel Weft uses in Redis. */
export const KEY_PREFIX = 'weft';

/**
 * The sorted set of node heartbeats: member = node id, score = Redis time (ms) of the node's
 * last beat. One key outside every room's hash tag; nodes touch it with single-key commands.
 */
export const NODES_KEY = `${KEY_PREFIX}:nodes`;

/** The channel of REST changes to rooms (deleted, renamed, accesses changed), for every node. */
export const ROOM_CHANGES_CHANNEL = `${KEY_PREFIX}:room-changes`;

/** Every key and the channel of one room. They share one hash tag, so one Cluster slot. */
export interface RoomKeys {
  /** `{org/room}`, both parts URL-encoded: the Cluster hash tag. */
  readonly tag: string;
  /** Stream of durable entries; entry id `<seq>-0`, field `d` holds the bytes. */
  readonly log: string;
  /** Highest seq handed out (string integer). Never goes backwards while Redis keeps it. */
  readonly seq: string;
  /** Highest actor id handed out (string integer). */
  readonly actors: string;
  /** Snapshot lease: holds the token of the node writing a snapshot, with a short expiry. */
  readonly lease: string;
  /** Hash node id → `<batch token> <first seq>`: the last batch each node appended. */
  readonly writers: string;
  /** Pub/sub channel: entry frames, ephemeral frames and probes. */
  readonly channel: string;
  /**
   * Present while the room takes part in a rename: `in` while the log of the room's old id is
   * copied here (appends and loads wait), `renamed` once the room moved away (appends refused).
   */
  readonly move: string;
}

/**
 * Keys and channel of a room: `weft:{<org>/<room>}:<name>`. Both ids are URL-encoded inside the
 * tag, so that a `/` in an id cannot make two rooms collide and a `}` cannot end the tag early
 * (which would spread a room's keys over several Cluster slots).
 */
export function roomKeys(room: RoomKey): RoomKeys {
  const tag = `{${encodeURIComponent(room.organizationId)}/${encodeURIComponent(room.roomId)}}`;
  const base = `${KEY_PREFIX}:${tag}`;
  return {
    tag,
    log: `${base}:log`,
    seq: `${base}:seq`,
    actors: `${base}:actors`,
    lease: `${base}:lease`,
    writers: `${base}:writers`,
    channel: `${base}:bus`,
    move: `${base}:move`,
  };
}
