/**
 * What a room and the connections in it say to each other, independent of the wire protocol:
 * the Liveblocks JSON sessions and the y-websocket sessions both implement {@link RoomPeer}.
 */
import type { WeftError } from '../errors.js';
import type { RoomRecord } from '../store/room-repository.js';
import type { StorageRejection } from './room-storage.js';

/** A presence object: any JSON object. */
export type Presence = Record<string, unknown>;

/** Presence key under which `@liveblocks/yjs` carries the Yjs awareness state. */
export const AWARENESS_STATE_KEY = '__yjs';
/** Presence key under which `@liveblocks/yjs` carries the Yjs client id. */
export const AWARENESS_CLIENT_KEY = '__yjs_clientid';

/** Who a connection is, as the other users see it. */
export interface RoomUser {
  /** The token's user id. */
  readonly id: string;
  /** The token's public user info. */
  readonly info: unknown;
  /** The connection's permission scopes, as sent in ROOM_STATE and USER_JOINED. */
  readonly scopes: readonly string[];
}

/** One user connected to the room, on this node or another. */
export interface RoomMember {
  readonly actor: number;
  /** The node holding the connection. */
  readonly nodeId: string;
  readonly user: RoomUser;
  /** The latest full presence. */
  presence: Presence;
  /**
   * Clock of the Yjs awareness state carried in the presence, as y-websocket peers count it:
   * it grows with every presence change.
   */
  awarenessClock: number;
}

/** Something that happened in the room, for the connections to encode. */
export type RoomEvent =
  | { readonly type: 'user-joined'; readonly member: RoomMember }
  | { readonly type: 'user-left'; readonly member: RoomMember }
  | {
      readonly type: 'presence';
      readonly member: RoomMember;
      /** The patch (or the full presence when `full`). */
      readonly data: Presence;
      readonly full: boolean;
      /** Set on a full presence addressed to one newcomer. */
      readonly targetActor?: number;
    }
  | {
      readonly type: 'broadcast';
      /** Sender's actor; -1 when the event came from the REST API. */
      readonly actor: number;
      readonly event: unknown;
    }
  | {
      readonly type: 'yjs-update';
      /** Actor of the writing connection; 0 for REST and the server. */
      readonly origin: number;
      readonly guid: string | null;
      readonly update: Uint8Array;
      readonly v2: boolean;
    }
  | {
      /** A Storage entry of the log was applied: what each connection must receive. */
      readonly type: 'storage-update';
      /** Actor of the writing connection; 0 for REST and the server. */
      readonly origin: number;
      /** For the writer only: acknowledgements and fixes, in order. */
      readonly toSender: readonly unknown[];
      /** For every other connection that loaded Storage. */
      readonly toOthers: readonly unknown[];
      /** The writer's refused ops; null when none. */
      readonly rejected: StorageRejection | null;
    };

/** A connection in a room, on this node. */
export interface RoomPeer {
  readonly actor: number;
  readonly user: RoomUser;
  /** Whether this connection's Yjs and Storage writes may enter the log. */
  readonly canWrite: boolean;
  /** Encodes and sends an event. Never throws. */
  deliver(event: RoomEvent): void;
  /** Closes the connection with the error's close code and message. */
  close(error: WeftError): void;
  /** The room's accesses changed: re-check this connection's permissions against them. */
  reauthorize(record: RoomRecord): void;
}
